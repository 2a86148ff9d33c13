"""Model recognition (``compsep-hpc recognize``): which candidate foreground model each pixel and
region of a sky needs, by likelihood-ratio / information-criterion decisions on Newton fits and by
the reference study's neural classifiers. See run.py for the flow and folder.py for the outputs."""

"""Reading runs back: status, selection, reduce, the combined result, tables and plots."""

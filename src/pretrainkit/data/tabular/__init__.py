"""Tables: rows of numeric and categorical features (`table.py`), where they come from
(`sources.py`: R's mlbench tables, the user's CSV/Parquet files), the corruption the
self-supervised tasks train on (`corrupt.py`), and the two data modules."""

"""Reading the census: named SQL (`queries`), figures (`figures`), the report (`report`, `render`,
`headline`), read-only ad-hoc SQL (`sql`) and Parquet export (`export`). Imports `db` only."""

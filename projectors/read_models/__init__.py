"""Read models: the engines order documents live in (Elasticsearch, SQLite), their
generations, and the words both index for free text."""

"""The database backend (ENGINE `videochat.postgresql`): Django's PostgreSQL backend whose
psycopg connection pool checks connections the way this project needs (see `base`)."""

"""PostgreSQL for the test suite: the project's backend (videochat.postgresql, Django's with
its connection pool) with a cheaper flush.

After every `transactional_db` test Django empties all tables with one TRUNCATE, which on
PostgreSQL creates new files for every table and syncs them at commit: about a second per
test on this machine, for tables holding a few rows. DELETE of those rows takes
milliseconds. Django's foreign keys are DEFERRABLE INITIALLY DEFERRED, so deleting the
tables in any order inside the flush's one transaction is valid (the checks run at commit,
when every row is gone).

A table whose own triggers refuse DELETE (the append-only audit log, adminpanel migration
0002) has them disabled around its DELETE, inside the flush's transaction: the test
connection owns the tables, and a failed flush rolls the switch back with the rows."""

from collections.abc import Sequence

from django.core.management.color import Style
from django.db.backends.postgresql import operations

from videochat.postgresql import base


class DatabaseOperations(operations.DatabaseOperations):
    def sql_flush(
        self,
        style: Style,
        tables: Sequence[str],
        *,
        reset_sequences: bool = False,
        allow_cascade: bool = False,
    ) -> list[str]:
        if not tables:
            return []
        sql = ["SET CONSTRAINTS ALL DEFERRED;"]
        # Table names come from Django's introspection, quoted.
        guarded = self._tables_with_user_triggers()
        for table in tables:
            name = self.quote_name(table)
            if table in guarded:
                sql.append(f"ALTER TABLE {name} DISABLE TRIGGER USER;")
            sql.append(f"DELETE FROM {name};")  # noqa: S608
            if table in guarded:
                sql.append(f"ALTER TABLE {name} ENABLE TRIGGER USER;")
        if reset_sequences:
            sequences = [
                sequence
                for table in tables
                for sequence in self.connection.introspection.get_sequences(
                    self.connection.cursor(), table
                )
            ]
            sql += self.sequence_reset_by_name_sql(style, sequences)
        return sql

    def _tables_with_user_triggers(self) -> set[str]:
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT DISTINCT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
                " WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace"
            )
            return {name for (name,) in cursor.fetchall()}


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations

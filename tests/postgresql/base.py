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
connection owns the tables, and a failed flush rolls the switch back with the rows.

The reference data that migrations make and no test changes outside a rolled-back
transaction (content types, permissions, the staff roles' groups) is kept: Django would
otherwise re-create all of it through post_migrate after every flush, 140 ms a test
(tests/fixtures.py skips that signal after a flush)."""

from collections.abc import Sequence

from django.core.management.color import Style
from django.db.backends.postgresql import operations

from videochat.postgresql import base

# Made by migrations (and their post_migrate), never by tests: kept by the flush.
REFERENCE_TABLES = frozenset(
    {"django_content_type", "auth_permission", "auth_group", "auth_group_permissions"}
)


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
        statements = ["SET CONSTRAINTS ALL DEFERRED;"]
        # Table names come from Django's introspection, quoted.
        guarded = self._tables_with_user_triggers()
        for table in tables:
            if table in REFERENCE_TABLES:
                continue
            name = self.quote_name(table)
            if table in guarded:
                statements.append(f"ALTER TABLE {name} DISABLE TRIGGER USER;")
            statements.append(f"DELETE FROM {name};")  # noqa: S608
            if table in guarded:
                statements.append(f"ALTER TABLE {name} ENABLE TRIGGER USER;")
        # One round trip for all of them (Django executes each list item on its own): the
        # statements take no parameters, so PostgreSQL runs them as one simple query.
        sql = [" ".join(statements)]
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
        # Migrations made the triggers before any test ran: read them once per connection.
        if self._guarded is not None:
            return self._guarded
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT DISTINCT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
                " WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace"
            )
            self._guarded = {name for (name,) in cursor.fetchall()}
        return self._guarded

    _guarded: set[str] | None = None


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations

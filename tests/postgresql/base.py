"""PostgreSQL for the test suite: the project's backend (videochat.postgresql, Django's with
its connection pool) with a cheaper flush.

After every `transactional_db` test Django empties all tables with one TRUNCATE, which on
PostgreSQL creates new files for every table and syncs them at commit: about a second per
test on this machine, for tables holding a few rows. DELETE of those rows takes
milliseconds. Django's foreign keys are DEFERRABLE INITIALLY DEFERRED, so deleting the
tables in any order inside the flush's one transaction is valid (the checks run at commit,
when every row is gone)."""

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
        sql += [f"DELETE FROM {self.quote_name(table)};" for table in tables]  # noqa: S608
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


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations

"""Lambda: the database migrator, the DatabaseMigrations custom resource of template.yaml.

CloudFormation calls it on every deploy that changes the layer (new code, maybe new migrations),
before the other functions are updated; it applies the pending migrations and answers the stack.
Deleting the stack keeps the database.
"""

from codeloop.adapters.cloudformation import answer_custom_resource
from codeloop.db import migrations
from codeloop.db.pool import database_url
from codeloop.observability import logger

RESOURCE_ID = "codeloop-database-migrations"  # the same on every update: never a replacement
# A new proxy target can take a few minutes to accept connections after CloudFormation reports
# it created: keep trying within the function's timeout (300 s).
CONNECT_DEADLINE_SECONDS = 240
RETRY_SECONDS = 15


def lambda_handler(event, context):
    if event["RequestType"] == "Delete":
        answer_custom_resource(event, RESOURCE_ID, "SUCCESS", "the database is kept")
        return
    try:
        applied = migrations.migrate_when_reachable(
            database_url(), deadline_seconds=CONNECT_DEADLINE_SECONDS, retry_seconds=RETRY_SECONDS
        )
    except Exception as exc:  # every failure must answer CloudFormation, or the stack waits
        reason = f"database migration failed: {type(exc).__name__}: {exc}"[:1000]
        logger.error(reason)
        answer_custom_resource(event, RESOURCE_ID, "FAILED", reason)
        return
    labels = [migration.label for migration in applied]
    logger.info("migrations applied", extra={"applied": labels})
    answer_custom_resource(
        event, RESOURCE_ID, "SUCCESS", f"applied {len(labels)} migration(s)", {"Applied": len(labels)}
    )

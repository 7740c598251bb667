"""Erasing a tenant: every data key of the project destroyed, so its content in the log is unreadable
everywhere (backups and rebuilds included), and its documents removed from the projection (responses
and conversations). Usage documents stay: they hold counts and costs, no content, and are the accounts."""

from dataclasses import dataclass

from pymongo.asynchronous.database import AsyncDatabase

from shared.datakeys import DataKeys
from shared.readmodel import conversations, repository


@dataclass(frozen=True)
class Erased:
    project: str
    keys: int
    responses: int
    conversations: int

    def report(self) -> dict[str, str | int]:
        return {
            "project": self.project,
            "erased_keys": self.keys,
            "erased_responses": self.responses,
            "erased_conversations": self.conversations,
        }


async def erase_tenant(keys: DataKeys, db: AsyncDatabase, tenant: str) -> Erased:
    destroyed = await keys.destroy_tenant(tenant)
    removed = await repository.responses(db).delete_many({"tenant": tenant})
    conversations_removed = await conversations.collection_of(db).delete_many({"tenant": tenant})
    return Erased(
        project=tenant,
        keys=destroyed,
        responses=removed.deleted_count,
        conversations=conversations_removed.deleted_count,
    )

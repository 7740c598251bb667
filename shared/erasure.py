"""Erasing a tenant: every data key of the project destroyed, so its content in the log is unreadable
everywhere (backups and rebuilds included), and its documents removed from the projection. Usage
documents stay: they hold counts and costs, no content, and are the accounts."""

from dataclasses import dataclass

from pymongo.asynchronous.collection import AsyncCollection

from shared.datakeys import DataKeys


@dataclass(frozen=True)
class Erased:
    project: str
    keys: int
    responses: int

    def report(self) -> dict[str, str | int]:
        return {"project": self.project, "erased_keys": self.keys, "erased_responses": self.responses}


async def erase_tenant(keys: DataKeys, responses: AsyncCollection, tenant: str) -> Erased:
    destroyed = await keys.destroy_tenant(tenant)
    removed = await responses.delete_many({"tenant": tenant})
    return Erased(project=tenant, keys=destroyed, responses=removed.deleted_count)

"""The projection's collection (shared/readmodel/repository.py) on the MongoDB stand-in: the indexes its
readers rely on, and a guarded upsert that applies when its guard matches and is a quiet no-op when a
document with its id exists that the guard does not match. How each event's write folds into a
response is in tests/contract/store/test_project.py."""

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from shared.domain.projection import Write
from shared.readmodel import repository
from shared.readmodel import usage as usage_reads

from ..store.samples import lifecycle


def _newer(doc_id: str, version: int) -> Write:
    """Set ``version`` unless the document already holds that one or a newer one."""
    return Write(
        filter={"_id": doc_id, "version": {"$not": {"$gte": version}}},
        update={"$set": {"version": version}},
    )


async def test_the_collection_is_the_responses_collection(db: AsyncDatabase):
    assert repository.responses(db).name == repository.COLLECTION == "responses"


async def test_the_indexes_readers_rely_on_exist_and_ensuring_them_again_changes_nothing(db: AsyncDatabase):
    collection = repository.responses(db)
    await repository.ensure_indexes(collection)
    first = await collection.index_information()
    await repository.ensure_indexes(collection)
    assert await collection.index_information() == first
    keys = {tuple(k for k, _ in index["key"]): index for index in first.values()}
    for fields in [
        ("expires_at",),
        ("tenant",),
        ("input_items.id",),
        ("response.output.id",),
        ("status", "response.created_at"),
    ]:
        assert fields in keys
    assert keys[("expires_at",)]["expireAfterSeconds"] == 0  # gone once the clock passes expires_at


async def test_a_write_inserts_the_document_it_guards(collection: AsyncCollection):
    await repository.apply(collection, _newer("r1", 1))
    assert await collection.find_one({"_id": "r1"}) == {"_id": "r1", "version": 1}


async def test_a_write_whose_guard_matches_updates(collection: AsyncCollection):
    await repository.apply(collection, _newer("r2", 1))
    await repository.apply(collection, _newer("r2", 3))
    assert (await collection.find_one({"_id": "r2"}))["version"] == 3


async def test_a_write_whose_guard_does_not_match_an_existing_document_is_a_no_op(
    collection: AsyncCollection,
):
    await repository.apply(collection, _newer("r3", 5))
    await repository.apply(collection, _newer("r3", 2))  # an older write, delivered late
    await repository.apply(collection, _newer("r3", 5))  # the same write again
    assert await collection.find_one({"_id": "r3"}) == {"_id": "r3", "version": 5}
    assert await collection.count_documents({}) == 1


async def test_fold_writes_usage_only_where_it_is_kept(db: AsyncDatabase, collection: AsyncCollection):
    events = lifecycle("resp_usage")
    usage_collection = db[usage_reads.COLLECTION]
    for event in events:
        await repository.fold(event, collection=collection, usage_collection=None, ttl_s=3600)
    assert (await collection.find_one({"_id": "resp_usage"}))["status"] == "completed"
    assert await usage_collection.count_documents({}) == 0

    for event in events:
        await repository.fold(event, collection=collection, usage_collection=usage_collection, ttl_s=3600)
    (usage,) = await usage_collection.find({}).to_list()
    assert usage["_id"] == "resp_usage"
    assert usage["status"] == "completed"

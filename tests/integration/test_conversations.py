"""The Conversations API through the openai SDK: conversations and their items, responses made in a
conversation (the model sees the earlier turns; each finished turn is appended), tenant isolation,
and the Agents SDK's ``OpenAIConversationsSession`` running a multi-turn agent."""

import json
import secrets

import httpx
import openai
import pytest
from agents import Agent, OpenAIConversationsSession, OpenAIResponsesModel, Runner, set_tracing_disabled

from shared import eventlog, subjects
from shared.datakeys import KeyDestroyed

from .test_erasure import log  # noqa: F401 (a fixture: the stack's log, read with its master key)

set_tracing_disabled(True)  # tracing would export to OpenAI, which the test cannot (and must not) reach


def _texts(items) -> list[tuple[str, str]]:
    """``(role, text)`` of each message item, in the order given."""
    return [
        (item.role, "".join(part.text for part in item.content)) for item in items if item.type == "message"
    ]


def _sent(mock_llm, index: int = -1) -> list[tuple[str, str]]:
    """``(role, content)`` of the messages the backend was sent in a request."""
    return [(m["role"], m["content"]) for m in mock_llm.requests()[index]["body"]["messages"]]


def test_a_conversation_is_created_read_updated_and_deleted(client):
    conversation = client.conversations.create(
        items=[{"type": "message", "role": "user", "content": "hello"}], metadata={"topic": "demo"}
    )
    assert conversation.object == "conversation" and conversation.id.startswith("conv_")
    assert conversation.metadata == {"topic": "demo"}
    fetched = client.conversations.retrieve(conversation.id)
    assert (fetched.id, fetched.created_at, fetched.metadata) == (
        conversation.id,
        conversation.created_at,
        {"topic": "demo"},
    )
    updated = client.conversations.update(conversation.id, metadata={"topic": "changed", "n": "2"})
    assert updated.metadata == {"topic": "changed", "n": "2"}
    assert client.conversations.retrieve(conversation.id).metadata == {"topic": "changed", "n": "2"}
    deleted = client.conversations.delete(conversation.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (conversation.id, "conversation.deleted", True)
    with pytest.raises(openai.NotFoundError):
        client.conversations.retrieve(conversation.id)
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.list(conversation.id)
    with pytest.raises(openai.NotFoundError):
        client.conversations.delete(conversation.id)


def test_items_are_added_listed_paged_retrieved_and_deleted(client):
    conversation = client.conversations.create()
    assert client.conversations.items.list(conversation.id).data == []
    added = client.conversations.items.create(
        conversation.id,
        items=[
            {"type": "message", "role": "user", "content": "one"},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "two"}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "three"}]},
        ],
    )
    assert _texts(added.data) == [("user", "one"), ("assistant", "two"), ("user", "three")]
    assert (added.first_id, added.last_id) == (added.data[0].id, added.data[-1].id)
    assert all(item.status == "completed" for item in added.data)
    client.conversations.items.create(conversation.id, items=[{"role": "user", "content": "four"}])
    # The SDK pages with `after`, two at a time.
    ascending = list(client.conversations.items.list(conversation.id, limit=2, order="asc"))
    assert [text for _, text in _texts(ascending)] == ["one", "two", "three", "four"]
    descending = list(client.conversations.items.list(conversation.id, limit=3))  # newest first by default
    assert [text for _, text in _texts(descending)] == ["four", "three", "two", "one"]
    page = client.conversations.items.list(
        conversation.id, limit=2, order="asc", include=["message.output_text.logprobs"]
    )
    assert page.has_more and len(page.data) == 2

    second = ascending[1]
    assert client.conversations.items.retrieve(second.id, conversation_id=conversation.id) == second
    after_delete = client.conversations.items.delete(second.id, conversation_id=conversation.id)
    assert after_delete.id == conversation.id and after_delete.object == "conversation"
    left = client.conversations.items.list(conversation.id, order="asc")
    assert [text for _, text in _texts(left.data)] == ["one", "three", "four"]
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.retrieve(second.id, conversation_id=conversation.id)


def test_bad_bodies_are_refused_as_openai_does(client):
    conversation = client.conversations.create()
    with pytest.raises(openai.BadRequestError) as refused:
        client.conversations.items.create(conversation.id, items=[{"role": "user", "content": "x"}] * 21)
    assert refused.value.param == "items"
    with pytest.raises(openai.BadRequestError) as refused:
        client.conversations.create(items=[{"type": "message", "role": "user"}])
    assert refused.value.param == "items[0].content"
    with pytest.raises(openai.BadRequestError) as refused:
        client.conversations.update(conversation.id, metadata={"k" * 65: "v"})
    assert refused.value.param is not None and refused.value.param.startswith("metadata")
    # What MongoDB could not hold is refused at the edge, never logged.
    too_big = [{"role": "user", "content": "x", "vendor": 2**70}]
    with pytest.raises(openai.BadRequestError) as refused:
        client.conversations.items.create(conversation.id, items=too_big)
    assert (refused.value.code, refused.value.param) == ("invalid_value", "items[0].vendor")
    with pytest.raises(openai.BadRequestError) as refused:
        client.conversations.create(extra_body={"unknown_field": 1})
    assert refused.value.param == "unknown_field"
    assert client.conversations.items.list(conversation.id).data == []


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'{"items": "x"}',
        b'{"items": [{"role": "user", "content": "\\ud800"}]}',
        b'{"metadata": {"k": 1}}',
        b'{"items": [{"role": "user", "content": "x", "deep": ' + b"[" * 40 + b"]" * 40 + b"}]}",
    ],
)
def test_hostile_bodies_are_400s(stack, body):
    headers = {"Authorization": f"Bearer {stack.key_a}", "Content-Type": "application/json"}
    with httpx.Client(base_url=f"{stack.api_url}/v1", headers=headers, timeout=30) as http:
        created = http.post("/conversations", content=body)
        assert created.status_code == 400, created.text
        assert set(created.json()["error"]) == {"message", "type", "param", "code"}
        conversation = http.post("/conversations").json()["id"]  # no body at all: an empty conversation
        added = http.post(f"/conversations/{conversation}/items", content=body)
        assert added.status_code == 400, added.text
        assert http.get(f"/conversations/{conversation}/items").json()["data"] == []


def test_turns_in_a_conversation_see_the_earlier_turns_and_are_appended(client, mock_llm):
    conversation = client.conversations.create(items=[{"role": "developer", "content": "Be brief."}])
    mock_llm.script({"content": "Hello Ada."}, {"content": "Your name is Ada."})
    first = client.responses.create(model="m1", input="My name is Ada.", conversation=conversation.id)
    assert first.output_text == "Hello Ada." and first.conversation.id == conversation.id
    # Read-your-writes: the answer came once the turn was appended.
    items = client.conversations.items.list(conversation.id, order="asc").data
    assert _texts(items) == [
        ("developer", "Be brief."),
        ("user", "My name is Ada."),
        ("assistant", "Hello Ada."),
    ]
    assert items[-1].id == first.output[0].id  # the response's own output item

    second = client.responses.create(
        model="m1", input="What is my name?", conversation={"id": conversation.id}, instructions="Answer."
    )
    assert second.output_text == "Your name is Ada."
    assert _sent(mock_llm) == [
        ("system", "Answer."),
        ("system", "Be brief."),  # the gateway sends developer messages as system ones
        ("user", "My name is Ada."),
        ("assistant", "Hello Ada."),
        ("user", "What is my name?"),
    ]
    items = client.conversations.items.list(conversation.id, order="asc").data
    assert [text for _, text in _texts(items)][-2:] == ["What is my name?", "Your name is Ada."]
    assert len(items) == 5


def test_a_streamed_turn_is_appended_before_the_stream_ends(client, mock_llm):
    conversation = client.conversations.create()
    mock_llm.script({"content": "streamed answer"})
    with client.responses.stream(model="m1", input="stream it", conversation=conversation.id) as stream:
        final = stream.get_final_response()
    assert final.output_text == "streamed answer"
    items = client.conversations.items.list(conversation.id, order="asc").data
    assert _texts(items) == [("user", "stream it"), ("assistant", "streamed answer")]


def test_an_unstored_turn_is_appended_and_input_tokens_count_the_conversation(client, mock_llm):
    conversation = client.conversations.create()
    alone = client.responses.input_tokens.count(model="m1", input="next question").input_tokens
    mock_llm.script({"content": "a long answer to remember"})
    unstored = client.responses.create(model="m1", input="first", conversation=conversation.id, store=False)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(unstored.id)  # the response itself is not kept...
    items = client.conversations.items.list(conversation.id, order="asc").data
    assert _texts(items) == [("user", "first"), ("assistant", "a long answer to remember")]  # ...its turn is
    counted = client.responses.input_tokens.count(
        model="m1", input="next question", conversation=conversation.id
    )
    assert counted.input_tokens > alone


def test_null_metadata_clears_it(client):
    conversation = client.conversations.create(metadata={"k": "v"})
    assert client.conversations.update(conversation.id, metadata=None).metadata == {}


def test_a_failed_turn_adds_nothing(client, mock_llm):
    conversation = client.conversations.create()
    mock_llm.script({"status": 400, "error": {"message": "bad input", "type": "invalid_request_error"}})
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model="m1", input="refused", conversation=conversation.id)
    mock_llm.script({"content": "fine"})
    client.responses.create(model="m1", input="accepted", conversation=conversation.id)
    items = client.conversations.items.list(conversation.id, order="asc").data
    assert _texts(items) == [("user", "accepted"), ("assistant", "fine")]
    assert ("user", "refused") not in _sent(mock_llm)


def test_conversation_with_previous_response_id_is_refused(client):
    conversation = client.conversations.create()
    previous = client.responses.create(model="m1", input="hi")
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(
            model="m1", input="again", conversation=conversation.id, previous_response_id=previous.id
        )
    assert refused.value.param == "conversation"
    assert client.conversations.items.list(conversation.id).data == []


def test_unknown_conversations_and_items_are_404s(client):
    with pytest.raises(openai.NotFoundError) as missing:
        client.responses.create(model="m1", input="hi", conversation="conv_missing")
    assert missing.value.param == "conversation"
    for call in (
        lambda: client.conversations.retrieve("conv_missing"),
        lambda: client.conversations.update("conv_missing", metadata={}),
        lambda: client.conversations.items.list("conv_missing"),
        lambda: client.conversations.items.create("conv_missing", items=[{"role": "user", "content": "x"}]),
    ):
        with pytest.raises(openai.NotFoundError):
            call()
    conversation = client.conversations.create()
    with pytest.raises(openai.NotFoundError) as missing:
        client.conversations.items.retrieve("msg_missing", conversation_id=conversation.id)
    assert missing.value.param == "item_id"
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.delete("msg_missing", conversation_id=conversation.id)


def test_a_conversation_is_its_projects_alone(client, client_b, mock_llm):
    conversation = client.conversations.create(items=[{"role": "user", "content": "team a's secret"}])
    item = client.conversations.items.list(conversation.id).data[0]
    for call in (
        lambda: client_b.conversations.retrieve(conversation.id),
        lambda: client_b.conversations.update(conversation.id, metadata={"x": "y"}),
        lambda: client_b.conversations.items.list(conversation.id),
        lambda: client_b.conversations.items.create(
            conversation.id, items=[{"role": "user", "content": "x"}]
        ),
        lambda: client_b.conversations.items.retrieve(item.id, conversation_id=conversation.id),
        lambda: client_b.conversations.items.delete(item.id, conversation_id=conversation.id),
        lambda: client_b.responses.create(model="m1", input="hi", conversation=conversation.id),
        lambda: client_b.conversations.delete(conversation.id),
    ):
        with pytest.raises(openai.NotFoundError):
            call()
    assert not any("team a's secret" in str(r["body"]) for r in mock_llm.requests())
    assert _texts(client.conversations.items.list(conversation.id).data) == [("user", "team a's secret")]
    assert client.conversations.retrieve(conversation.id).metadata == {}


async def _logged(js, conversation_id: str) -> list:
    sub = await js.subscribe(f"conv.{conversation_id}.>", stream=subjects.STREAM, ordered_consumer=True)
    try:
        found = [await sub.next_msg(timeout=5)]
        while found[-1].metadata.num_pending:
            found.append(await sub.next_msg(timeout=5))
        return found
    finally:
        await sub.unsubscribe()


async def test_deleting_a_conversation_erases_its_content_from_the_log(async_client, log):  # noqa: F811
    secret = "secret-" + secrets.token_hex(8)
    conversation = await async_client.conversations.create(
        items=[{"role": "user", "content": secret}], metadata={"note": secret}
    )
    await async_client.conversations.items.create(
        conversation.id, items=[{"role": "user", "content": secret}]
    )
    logged = await _logged(log, conversation.id)
    assert [m.subject.rsplit(".", 1)[-1] for m in logged] == ["created", "items_added"]
    assert all(secret.encode() not in m.data for m in logged)  # sealed
    assert secret in json.dumps((await eventlog.decode(log, logged[0])).model_dump())  # under its key

    await async_client.conversations.delete(conversation.id)
    for msg in logged:  # the store destroyed the key before it answered the deletion
        with pytest.raises(KeyDestroyed):
            await eventlog.decode(log, msg)


async def test_erasing_a_project_erases_its_conversations(stack):
    admin = {"Authorization": f"Bearer {stack.key_admin}"}
    async with httpx.AsyncClient(base_url=f"{stack.api_url}/v1", headers=admin, timeout=30) as http:
        created = (
            await http.post("/admin/keys", json={"name": "conv", "project": "erase-conversations"})
        ).json()
        async with openai.AsyncOpenAI(
            base_url=f"{stack.api_url}/v1", api_key=created["key"], max_retries=0
        ) as tenant:
            conversation = await tenant.conversations.create(items=[{"role": "user", "content": "x"}])
            erased = (await http.post("/admin/projects/erase-conversations/erase")).json()
            assert erased["erased_conversations"] == 1
            with pytest.raises(openai.NotFoundError):
                await tenant.conversations.retrieve(conversation.id)


async def test_the_agents_sdk_runs_a_multi_turn_agent_in_a_conversations_session(async_client, mock_llm):
    model = OpenAIResponsesModel(model="m1", openai_client=async_client)
    agent = Agent(name="assistant", instructions="Remember what you are told.", model=model)
    session = OpenAIConversationsSession(openai_client=async_client)
    mock_llm.script({"content": "Noted: blue."}, {"content": "You like blue."})

    first = await Runner.run(agent, "My favourite colour is blue.", session=session)
    assert first.final_output == "Noted: blue."
    second = await Runner.run(agent, "What is my favourite colour?", session=session)
    assert second.final_output == "You like blue."

    # The second turn reached the model with the first one before it, read back from the conversation.
    assert _sent(mock_llm) == [
        ("system", "Remember what you are told."),
        ("user", "My favourite colour is blue."),
        ("assistant", "Noted: blue."),
        ("user", "What is my favourite colour?"),
    ]
    conversation_id = await session._get_session_id()
    stored = await async_client.conversations.items.list(conversation_id, order="asc")
    assert [text for _, text in _texts(stored.data)] == [
        "My favourite colour is blue.",
        "Noted: blue.",
        "What is my favourite colour?",
        "You like blue.",
    ]
    assert (await session.pop_item())["content"][0]["text"] == "You like blue."
    assert len(await session.get_items()) == 3
    await session.clear_session()
    with pytest.raises(openai.NotFoundError):
        await async_client.conversations.retrieve(conversation_id)


async def test_the_agents_sdk_runs_turns_through_conversation_id(async_client, mock_llm):
    """``Runner.run(conversation_id=...)``: the SDK sends ``conversation`` and keeps no history itself."""
    conversation = await async_client.conversations.create()
    model = OpenAIResponsesModel(model="m1", openai_client=async_client)
    agent = Agent(name="assistant", instructions="Be brief.", model=model)
    mock_llm.script({"content": "Hi Bo."}, {"content": "Bo."})
    await Runner.run(agent, "I am Bo.", conversation_id=conversation.id)
    result = await Runner.run(agent, "Who am I?", conversation_id=conversation.id)
    assert result.final_output == "Bo."
    assert _sent(mock_llm) == [
        ("system", "Be brief."),
        ("user", "I am Bo."),
        ("assistant", "Hi Bo."),
        ("user", "Who am I?"),
    ]

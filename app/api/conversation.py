"""A chat-shaped request (OpenAI's chat completions and Responses, Ollama's chat and generate)
as a question to Sourced: the model names the index, the last user turn is the question and
the turns before it the history. System and developer instructions are accepted and left out:
the answer follows Sourced's own instruction to answer from the sources and cite them."""

from __future__ import annotations

from pydantic import ValidationError

from app.errors import InvalidRequest, NotFound
from app.schemas import AskRequest, LLMOptions, Turn
from app.services import Services
from ingest.errors import UsageError


def ask_request(
    services: Services,
    model: str,
    turns: list[tuple[str, str]],
    llm: LLMOptions,
    field: str = "messages",
    models: str = "GET /v1/models",
) -> AskRequest:
    """The question for `model`'s index from (role, text) turns; `field` names the request
    field the turns came from, `models` where the caller can list the models."""
    said = [(role, text) for role, text in turns if role in ("user", "assistant")]
    if not said or said[-1][0] != "user":
        raise InvalidRequest("the last message must come from the user", field)
    require_index(services, model, models)
    limit = services.settings.max_history_turns
    try:
        history = [Turn(role=role, content=text) for role, text in said[:-1]]
    except ValidationError as exc:
        raise InvalidRequest(f"a message is too long: {exc.errors()[0]['msg']}", field) from None
    return AskRequest(
        question=said[-1][1] or " ",
        index=model,
        history=history[-limit:] if limit else [],
        llm=llm,
    )


def require_index(services: Services, model: str, models: str = "GET /v1/models") -> None:
    """A 404 naming the model field unless `model` is an index."""
    try:
        exists = services.store.current_version(model) is not None
    except UsageError:  # not even a valid index name
        exists = False
    if not exists:
        raise NotFound(f"no index named '{model}': {models} lists them", "model")

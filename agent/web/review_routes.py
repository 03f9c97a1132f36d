"""Proposal pages and decisions: each decision answers with its edit's card only (htmx), and
a failed one says why inside that card: expired session, stale form, decided elsewhere."""

from __future__ import annotations

from urllib.parse import urlencode

from typing import Annotated

from fastapi import FastAPI, HTTPException, Path, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from agent.kinds import MAX_ID
from agent.web.pages import Web, who

# An id above what the store holds names no proposal: refused where it is parsed (it reached
# SQLite as an OverflowError, a 500).
ProposalId = Annotated[int, Path(le=MAX_ID)]
EXPIRED = "Your session expired; nothing was saved."
STALE_FORM = ("This page was loaded before your latest log-in (another tab?), so its form is out "
              "of date; nothing was saved.")


def _conflict_words(exc: Exception) -> str:
    status, by, at = (getattr(exc, name, None) for name in ("status", "by", "at"))
    if status and by:
        status = getattr(status, "value", status)
        verb = {"merged": "approved and merged", "rejected": "rejected"}.get(str(status), str(status))
        moment = f" at {at:%H:%M} UTC on {at:%-d %b}" if hasattr(at, "strftime") else ""
        return f"Already {verb} by {who(by)}{moment}; nothing was saved."
    return f"{str(exc)[:1].upper()}{str(exc)[1:]}; nothing was saved."


def add_review_routes(app: FastAPI, web: Web, require, NotLoggedIn) -> None:  # noqa: N803
    store = web.store

    def build(proposal_id: int):
        from agent.review import sync_status
        from agent.review_view import build_page

        return build_page(store, sync_status(store, store.proposals.get(proposal_id)))

    def card_response(request: Request, editor, proposal_id: int, number: int, *, code: int = 200,
                      message: str = "", kind: str = "notice", link=None) -> HTMLResponse:
        page = build(proposal_id)
        card = page.cards[number - 1]
        csrf = web.auth.csrf_token(editor.session) if editor and editor.session else ""
        html = web.render("_card.html", request=request, editor=editor, csrf=csrf, page=page,
                          card=card, oob=True, message=message, message_kind=kind,
                          message_link=link)
        return HTMLResponse(html, status_code=code)

    def message_only(number: int, code: int, text: str, link) -> HTMLResponse:
        html = web.render("_message.html", number=number, message=text, message_link=link)
        return HTMLResponse(html, status_code=code, headers={
            "HX-Retarget": f"#edit-{number}-message", "HX-Reswap": "innerHTML"})

    @app.get("/proposals")
    def proposals(request: Request, status: str = "open") -> HTMLResponse:
        from agent.review import ReviewError, list_proposals

        editor = require(request)
        try:
            found = list_proposals(store, status)
        except ReviewError as exc:
            raise HTTPException(400, str(exc)) from None
        return web.page(request, "proposals.html", editor, proposals=found[::-1], status=status)

    @app.get("/proposals/{proposal_id}")
    def proposal(request: Request, proposal_id: ProposalId, merged: str = "", rejected: str = "",
                 refused: str = "", nothing: str = "", undone: str = "") -> HTMLResponse:
        editor = require(request)
        page = build(proposal_id)
        outcome = {"merged": merged, "rejected": rejected, "refused": refused, "nothing": nothing,
                   "undone": undone}
        return web.page(request, "review.html", editor, page=page,
                        outcome={k: v for k, v in outcome.items() if v.replace(",", "").isdigit()})

    async def decide(request: Request, proposal_id: int, action: str) -> Response:
        from agent.approval import approve, parse_includes, reject, undo
        from agent.review import ReviewError
        from agent.store.errors import NotFound

        hx = bool(request.headers.get("hx-request"))
        editor = web.auth.editor(request)
        form = await request.form()
        refs = [str(v) for v in form.getlist("edit")]
        comment = str(form.get("comment") or "").strip()
        if editor is None:
            # Nothing about the proposal is looked up for a request without a login: neither
            # whether it exists nor how many edits it has. A card whose session expired
            # still gets its "log in again" in place when its edit is one of the proposal's.
            number = None
            if hx:
                try:
                    number = _card_number(store.proposals.get(proposal_id), refs)
                except (NotFound, ReviewError):
                    pass
            if number is not None:
                here = f"/proposals/{proposal_id}#edit-{number}"
                return message_only(number, 401, EXPIRED, ("Log in again", "/login?" + urlencode({"next": here})))
            raise NotLoggedIn()
        proposal = store.proposals.get(proposal_id)
        try:
            number = _card_number(proposal, refs)
        except ReviewError as exc:
            raise HTTPException(422, str(exc)) from None
        in_card = hx and number is not None
        here = f"/proposals/{proposal_id}#edit-{number}"
        if editor.via == "cookie" and not web.auth.check_csrf(
                editor.session, form.get("csrf") or request.headers.get("x-csrf-token")):
            if in_card:
                return message_only(number, 403, STALE_FORM, ("Reload the page", here))
            raise HTTPException(403, "missing or wrong CSRF token: reload the page and try again")
        ticked = {str(v) for v in form.getlist("include")}
        try:
            if action == "undo":
                if number is None:
                    raise HTTPException(422, "name one edit to undo")
                undo(store, proposal_id, refs[0], actor=editor.actor)
                result = None
            elif action == "approve":
                # A card's ticks are sentence numbers; scripts may send EDIT.SENTENCE as the CLI does.
                include = parse_includes(proposal, sorted(ticked), refs[0] if number else None)
                result, _ = await approve(store, proposal_id, refs or None, actor=editor.actor,
                                          comment=comment, include=include,
                                          include_unverified=form.get("include_unverified") == "1")
            else:
                result = await reject(store, proposal_id, refs or None, actor=editor.actor, comment=comment)
        except ReviewError as exc:
            if in_card:
                return card_response(request, editor, proposal_id, number, code=409,
                                     message=_conflict_words(exc), kind="warning")
            if editor.via == "bearer":
                return JSONResponse({"error": str(exc)}, status_code=409)
            raise HTTPException(409, str(exc)) from None
        if in_card:
            if result is None:
                text = f"Edit {number} waits for a decision again."
            elif result.nothing:
                text = _already(result, number)
            elif number in result.refused:
                text = "Refused: the section changed since the proposal was drafted."
            else:
                text = "Approved and merged." if number in result.merged else "Rejected."
            return card_response(request, editor, proposal_id, number, message=text)
        if editor.via == "bearer" and result is not None:
            return JSONResponse({"proposal_id": proposal_id, "status": result.proposal.status.value,
                                 "merged": result.merged, "rejected": result.rejected,
                                 "refused": {str(k): v for k, v in result.refused.items()},
                                 "revision": result.revision.number if result.revision else None})
        if result is None:
            summary = {"undone": [number]}
        else:
            summary = {"merged": result.merged, "rejected": result.rejected,
                       "refused": sorted(result.refused), "nothing": [1] if result.nothing else []}
        query = urlencode({k: ",".join(map(str, v)) for k, v in summary.items() if v})
        anchor = f"#edit-{number}" if number else ""
        return RedirectResponse(f"/proposals/{proposal_id}" + (f"?{query}" if query else "") + anchor,
                                status_code=303)

    @app.post("/proposals/{proposal_id}/approve")
    async def approve_route(request: Request, proposal_id: ProposalId) -> Response:
        return await decide(request, proposal_id, "approve")

    @app.post("/proposals/{proposal_id}/reject")
    async def reject_route(request: Request, proposal_id: ProposalId) -> Response:
        return await decide(request, proposal_id, "reject")

    @app.post("/proposals/{proposal_id}/undo")
    async def undo_route(request: Request, proposal_id: ProposalId) -> Response:
        return await decide(request, proposal_id, "undo")


def _card_number(proposal, refs: list[str]) -> int | None:  # noqa: ANN001 - a Proposal
    """The card number of the one edit `refs` names (None for none or several); ReviewError
    when it names no edit of the proposal."""
    from agent.review import resolve_edits

    if len(refs) != 1:
        return None
    edit_id = resolve_edits(proposal, refs)[0]
    return [e.id for e in proposal.edits].index(edit_id) + 1


def _already(result, number: int) -> str:
    said = (getattr(result, "already", None) or {}).get(number)
    return f"Nothing changed: already {said}." if said else "Nothing changed: it was already decided."

"""Who may reach which URL, and who may take each action: the expected outcomes for
tests/test_permission_matrix.py.

Every named URL in the URL conf must appear in TABLE; a new URL fails the matrix
test until someone classifies it. For each URL: the object it is requested for
(see `world` in the test), and for each method the actors who may get past the
permission checks. Everyone else is turned away exactly: visitors to the sign-in
page; signed-in people with 403, or 404 where NOT_FOUND_FOR hides the object from
them, or 405 for a method the URL serves to nobody. A 409 or a re-shown form is
never a refusal: a request gets those only once it is past the permission check.

ACTION_ROWS (below) then checks every action with a request that would succeed.
"""

ANON = "anonymous"
OUTSIDER = "outsider"
PROPOSER = "proposer"  # alice, who proposed the sample proposals
CORE_OPS = "core_ops"
COUNCIL = "council"
RESPONDER = "responder"
STAFF = "staff"

ACTORS = (ANON, OUTSIDER, PROPOSER, CORE_OPS, COUNCIL, RESPONDER, STAFF)
EVERYONE = frozenset(ACTORS)
SIGNED_IN = EVERYONE - {ANON}
CHANGE_READERS = frozenset({PROPOSER, CORE_OPS, COUNCIL})
NOBODY = frozenset()

# url name -> (sample object, {method: actors allowed})
TABLE = {
    "home": (None, {"GET": EVERYONE}),
    "healthz": (None, {"GET": EVERYONE}),
    # Not a matter of roles: Prometheus reads it with the bearer token or from an
    # allowed address (tests/test_metrics.py). Dev allows loopback, where the
    # test client comes from, so every actor gets through here.
    "metrics": (None, {"GET": EVERYONE}),
    "login": (None, {"GET": EVERYONE, "POST": EVERYONE}),
    "logout": (None, {"POST": EVERYONE}),
    "admin": (None, {"GET": frozenset({STAFF}), "POST": frozenset({STAFF})}),  # via its index
    "changes:list": (None, {"GET": CHANGE_READERS}),
    "changes:create": (None, {"GET": frozenset({PROPOSER}), "POST": frozenset({PROPOSER})}),
    "changes:public": (None, {"GET": EVERYONE}),
    "changes:public_feed": (None, {"GET": EVERYONE}),
    "changes:detail": ("proposal_in_review", {"GET": CHANGE_READERS}),
    "changes:edit": ("draft", {"GET": frozenset({PROPOSER}), "POST": frozenset({PROPOSER})}),
    "changes:submit": ("draft", {"POST": frozenset({PROPOSER})}),
    "changes:withdraw": ("proposal_in_review", {"POST": frozenset({PROPOSER})}),
    "changes:amend": ("proposal_in_review",
                      {"GET": frozenset({PROPOSER}), "POST": frozenset({PROPOSER})}),
    "changes:vote": ("proposal_in_review", {"POST": frozenset({CORE_OPS})}),
    "changes:implementation": ("approved", {"GET": frozenset({CORE_OPS}),
                                            "POST": frozenset({CORE_OPS})}),
}

# Someone else's draft proposal is not shown to the other change roles at all.
NOT_FOUND_FOR = {"changes:edit": frozenset({CORE_OPS, COUNCIL}),
                 "changes:submit": frozenset({CORE_OPS, COUNCIL})}

INCIDENT_READERS = frozenset({RESPONDER, CORE_OPS, COUNCIL})
DECLARERS = frozenset({RESPONDER, CORE_OPS})
RESPONDERS_ONLY = frozenset({RESPONDER})  # rita, who also commands the sample incident
OPS_ONLY = frozenset({CORE_OPS})

TABLE.update({
    "incidents:list": (None, {"GET": INCIDENT_READERS}),
    "incidents:declare": (None, {"GET": DECLARERS, "POST": DECLARERS}),
    "incidents:detail": ("incident", {"GET": INCIDENT_READERS}),
    "incidents:live": ("incident", {"GET": INCIDENT_READERS}),
    "incidents:resolve": ("incident", {"GET": RESPONDERS_ONLY, "POST": RESPONDERS_ONLY}),
    "incidents:acknowledge": ("incident", {"GET": frozenset({COUNCIL}),
                                           "POST": frozenset({COUNCIL})}),
    "incidents:retry": ("step", {"POST": RESPONDERS_ONLY}),
    "incidents:skip": ("step", {"GET": RESPONDERS_ONLY, "POST": RESPONDERS_ONLY}),
    "incidents:evidence": ("evidence", {"GET": RESPONDERS_ONLY}),
    "fleet:nodes": (None, {"GET": INCIDENT_READERS}),  # the fleet page: view_fleet
    "fleet:node": ("node", {"GET": INCIDENT_READERS}),
    "fleet:run_checks": (None, {"POST": OPS_ONLY}),
    "fleet:node_run_checks": ("node", {"POST": OPS_ONLY}),
    "fleet:node_add": (None, {"GET": OPS_ONLY, "POST": OPS_ONLY}),
    "fleet:node_edit": ("node", {"GET": OPS_ONLY, "POST": OPS_ONLY}),
    "fleet:node_delete": ("node", {"POST": OPS_ONLY}),
})

COUNCIL_ONLY = frozenset({COUNCIL})  # carol, who wrote none of the sample post-mortems

TABLE.update({
    "postmortems:list": (None, {"GET": EVERYONE}),
    "postmortems:feed": (None, {"GET": EVERYONE}),
    "postmortems:detail": ("postmortem_published", {"GET": EVERYONE}),
    "incidents:postmortem": ("postmortem_draft", {"GET": INCIDENT_READERS,
                                                  "POST": RESPONDERS_ONLY}),
    "incidents:postmortem_submit": ("postmortem_draft", {"POST": RESPONDERS_ONLY}),
    "incidents:postmortem_publish": ("postmortem_in_review", {"POST": COUNCIL_ONLY}),
    "incidents:postmortem_send_back": ("postmortem_in_review", {"POST": COUNCIL_ONLY}),
    "incidents:amendment_new": ("postmortem_published", {"GET": RESPONDERS_ONLY,
                                                         "POST": RESPONDERS_ONLY}),
    "incidents:amendment": ("amendment_draft", {"GET": INCIDENT_READERS, "POST": RESPONDERS_ONLY}),
    "incidents:amendment_submit": ("amendment_draft", {"POST": RESPONDERS_ONLY}),
    "incidents:amendment_publish": ("amendment_in_review", {"POST": COUNCIL_ONLY}),
    "incidents:amendment_send_back": ("amendment_in_review", {"POST": COUNCIL_ONLY}),
})

# The event log's signed checkpoints are for anyone to read and save (docs/security.md).
TABLE.update({
    "audit:overview": (None, {"GET": EVERYONE}),
    "audit:latest": (None, {"GET": EVERYONE}),
    "audit:all": (None, {"GET": EVERYONE}),
    "audit:key": (None, {"GET": EVERYONE}),
    "audit:feed": (None, {"GET": EVERYONE}),
    "audit:checkpoint": ("checkpoint", {"GET": EVERYONE}),
})

ALERT_READERS = frozenset({CORE_OPS, RESPONDER, COUNCIL})

TABLE.update({
    "alerts:list": (None, {"GET": ALERT_READERS}),
    "alerts:group": ("alert_group", {"GET": ALERT_READERS}),
    # Not a matter of roles: Alertmanager's bearer token lets a request in
    # (tests/test_alerts_intake.py). Every actor here has none and gets a 401,
    # which is past the session's door and no success either.
    "alertmanager_webhook": (None, {"POST": EVERYONE}),
})
# URLs authenticated by a bearer token, not a session: no CSRF token applies.
TOKEN_APIS = frozenset({"alertmanager_webhook"})

# Public incident notices (issue 16): responders draft, the commander (rita) publishes;
# the status page, its feed and the Statuspage-compatible JSON are for anyone.
TABLE.update({
    "incidents:notice_new": ("incident", {"GET": RESPONDERS_ONLY, "POST": RESPONDERS_ONLY}),
    "incidents:notice_publish": ("notice_draft", {"POST": RESPONDERS_ONLY}),
    "incidents:notice_discard": ("notice_draft", {"POST": RESPONDERS_ONLY}),
    "status:page": (None, {"GET": EVERYONE}),
    "status:feed": (None, {"GET": EVERYONE}),
    "status:summary": (None, {"GET": EVERYONE}),
    "status:status": (None, {"GET": EVERYONE}),
    "status:components": (None, {"GET": EVERYONE}),
    "status:incidents": (None, {"GET": EVERYONE}),
    "status:unresolved": (None, {"GET": EVERYONE}),
})

METHODS = ("GET", "POST")

# Change control under pressure (issue 15): freezes, emergency changes, reclassification.
FREEZE_MANAGERS = frozenset({CORE_OPS, COUNCIL})
TABLE.update({
    "changes:freezes": (None, {"GET": CHANGE_READERS}),
    "changes:freeze_new": (None, {"GET": FREEZE_MANAGERS, "POST": FREEZE_MANAGERS}),
    "changes:freeze_lift": ("freeze", {"POST": FREEZE_MANAGERS}),
    "changes:reclassify": ("proposal_in_review", {"POST": frozenset({CORE_OPS})}),
    "changes:rollback": ("unratified", {"GET": frozenset({CORE_OPS}),
                                        "POST": frozenset({CORE_OPS})}),
})

# Sign-in help and oversight (issue 12, items 1 and 3).
TABLE.update({
    "password_reset": (None, {"GET": EVERYONE, "POST": EVERYONE}),
    "password_reset_done": (None, {"GET": EVERYONE}),
    "password_reset_confirm": ("reset_link", {"GET": EVERYONE, "POST": EVERYONE}),
    "password_reset_complete": (None, {"GET": EVERYONE}),
    "role_changes": (None, {"GET": COUNCIL_ONLY}),
})

# --- Actions: who may take each action in qpgov.roles.ACTIONS --------------------------
#
# The URL table above says who gets past the door. This one says who may *do*
# each thing, and tests/test_permission_matrix.py checks it with a request that
# would succeed: the object is in the state the action needs and the body is a
# valid form. A refused actor must get exactly `refusal` (403 unless the row says
# otherwise), with not one row written; in the same test, an allowed actor then
# sends the same request and it succeeds. Every action in roles.ACTIONS needs at
# least one row here, and so does every URL that accepts a POST.

FORBIDDEN = 403
NOT_FOUND = 404  # someone else's draft proposal: not shown, not even as forbidden
ROLE_ACTORS = {PROPOSER: "Proposers", CORE_OPS: "Core Ops", COUNCIL: "Governance Council",
               RESPONDER: "Incident Responders"}  # the role each named actor holds


class ActionRow:
    """One action through one URL: who may take it, on which sample object."""

    def __init__(self, action, url, method, sample, allowed, *, refusal=None):
        self.action, self.url, self.method, self.sample = action, url, method, sample
        self.allowed = frozenset(allowed)
        self.refusal = refusal or {}  # actor -> status, where it is not 403

    def expected_refusal(self, actor):
        return self.refusal.get(actor, FORBIDDEN)


DRAFT_HIDDEN = dict.fromkeys(NOT_FOUND_FOR["changes:edit"], NOT_FOUND)

# row id -> row. Samples are built by `build_sample` in the test, one per case; a
# GET row's sample is what the page must show to the allowed and hide from the rest.
ACTION_ROWS = {
    # Change control.
    "list proposals": ActionRow("view_changes", "changes:list", "GET", "proposal_in_review",
                                CHANGE_READERS),
    "read a proposal": ActionRow("view_changes", "changes:detail", "GET", "proposal_in_review",
                                 CHANGE_READERS),
    "write a draft": ActionRow("propose_change", "changes:create", "POST", None, {PROPOSER}),
    "edit one's draft": ActionRow("propose_change", "changes:edit", "POST", "draft", {PROPOSER},
                                  refusal=DRAFT_HIDDEN),
    "submit one's draft": ActionRow("propose_change", "changes:submit", "POST", "draft",
                                    {PROPOSER}, refusal=DRAFT_HIDDEN),
    "withdraw one's proposal": ActionRow("propose_change", "changes:withdraw", "POST",
                                         "proposal_in_review", {PROPOSER}),
    "amend one's proposal": ActionRow("propose_change", "changes:amend", "POST",
                                      "proposal_in_review", {PROPOSER}),
    "vote on an ops change": ActionRow("vote_ops_change", "changes:vote", "POST",
                                       "proposal_in_review", {CORE_OPS}),
    "vote on a governance change": ActionRow("vote_governance_change", "changes:vote", "POST",
                                             "governance_in_review", {COUNCIL}),
    "record an implementation": ActionRow("record_implementation", "changes:implementation",
                                          "POST", "approved", {CORE_OPS}),
    "approve an emergency change": ActionRow("approve_emergency_change", "changes:vote", "POST",
                                             "emergency_in_review", {CORE_OPS}),
    "reclassify a change as a feature": ActionRow("vote_ops_change", "changes:reclassify",
                                                  "POST", "proposal_in_review", {CORE_OPS}),
    "record the rollback of an unratified change": ActionRow(
        "record_implementation", "changes:rollback", "POST", "unratified", {CORE_OPS}),
    "list freezes": ActionRow("view_changes", "changes:freezes", "GET", "freeze", CHANGE_READERS),
    "declare a freeze": ActionRow("manage_freezes", "changes:freeze_new", "POST", None,
                                  {CORE_OPS, COUNCIL}),
    "lift a freeze": ActionRow("manage_freezes", "changes:freeze_lift", "POST", "freeze",
                               {CORE_OPS, COUNCIL}),
    # Incident response.
    "list incidents": ActionRow("view_incidents", "incidents:list", "GET", "incident",
                                INCIDENT_READERS),
    "read an incident": ActionRow("view_incidents", "incidents:detail", "GET", "incident",
                                  INCIDENT_READERS),
    "read a post-mortem draft": ActionRow("view_incidents", "incidents:postmortem", "GET",
                                          "postmortem_draft", INCIDENT_READERS),
    "declare an incident": ActionRow("declare_incident", "incidents:declare", "POST", "node",
                                     DECLARERS),
    "retry a step": ActionRow("run_response", "incidents:retry", "POST", "step_needing_human",
                              RESPONDERS_ONLY),
    "skip a step": ActionRow("run_response", "incidents:skip", "POST", "step", RESPONDERS_ONLY),
    "resolve an incident": ActionRow("run_response", "incidents:resolve", "POST",
                                     "contained_incident", RESPONDERS_ONLY),
    "download evidence": ActionRow("download_evidence", "incidents:evidence", "GET", "evidence",
                                   RESPONDERS_ONLY),
    "list alert groups": ActionRow("view_alerts", "alerts:list", "GET", "alert_group",
                                   ALERT_READERS),
    "read an alert group": ActionRow("view_alerts", "alerts:group", "GET", "alert_group",
                                     ALERT_READERS),
    "list nodes": ActionRow("view_fleet", "fleet:nodes", "GET", "node", INCIDENT_READERS),
    "read a node's checks": ActionRow("view_fleet", "fleet:node", "GET", "node", INCIDENT_READERS),
    "check every node": ActionRow("run_node_checks", "fleet:run_checks", "POST", "node", OPS_ONLY),
    "check a node": ActionRow("run_node_checks", "fleet:node_run_checks", "POST", "node", OPS_ONLY),
    "add a node": ActionRow("manage_nodes", "fleet:node_add", "POST", None, OPS_ONLY),
    "edit a node": ActionRow("manage_nodes", "fleet:node_edit", "POST", "node", OPS_ONLY),
    "delete a node": ActionRow("manage_nodes", "fleet:node_delete", "POST", "node", OPS_ONLY),
    "acknowledge an incident": ActionRow("acknowledge_incident", "incidents:acknowledge", "POST",
                                         "incident", COUNCIL_ONLY),
    # Post-mortems.
    "edit a post-mortem draft": ActionRow("edit_postmortem", "incidents:postmortem", "POST",
                                          "postmortem_draft", RESPONDERS_ONLY),
    "submit a post-mortem": ActionRow("edit_postmortem", "incidents:postmortem_submit", "POST",
                                      "postmortem_draft", RESPONDERS_ONLY),
    "start an amendment": ActionRow("edit_postmortem", "incidents:amendment_new", "POST",
                                    "postmortem_published", RESPONDERS_ONLY),
    "edit an amendment": ActionRow("edit_postmortem", "incidents:amendment", "POST",
                                   "amendment_draft", RESPONDERS_ONLY),
    "submit an amendment": ActionRow("edit_postmortem", "incidents:amendment_submit", "POST",
                                     "amendment_draft", RESPONDERS_ONLY),
    "publish a post-mortem": ActionRow("approve_postmortem", "incidents:postmortem_publish", "POST",
                                       "postmortem_in_review", COUNCIL_ONLY),
    "send a post-mortem back": ActionRow("approve_postmortem", "incidents:postmortem_send_back",
                                         "POST", "postmortem_in_review", COUNCIL_ONLY),
    "publish an amendment": ActionRow("approve_postmortem", "incidents:amendment_publish", "POST",
                                      "amendment_in_review", COUNCIL_ONLY),
    "send an amendment back": ActionRow("approve_postmortem", "incidents:amendment_send_back",
                                        "POST", "amendment_in_review", COUNCIL_ONLY),
    # Public incident notices.
    "draft a public notice": ActionRow("draft_notice", "incidents:notice_new", "POST", "incident",
                                       RESPONDERS_ONLY),
    "publish a public notice": ActionRow("publish_notice", "incidents:notice_publish", "POST",
                                         "notice_draft", RESPONDERS_ONLY),
    "discard a draft notice": ActionRow("draft_notice", "incidents:notice_discard", "POST",
                                        "notice_draft", RESPONDERS_ONLY),
    # Oversight.
    "read role changes": ActionRow("view_role_changes", "role_changes", "GET", "role_change",
                                   COUNCIL_ONLY),
}

# POST URLs that are no qpgov action: signing in and out, the password reset that
# lifts a sign-in lock (open to everyone, like signing in), the Django admin, and
# the token-authenticated APIs.
NOT_ACTIONS = frozenset({"login", "logout", "admin", "password_reset", "password_reset_confirm"}) | TOKEN_APIS

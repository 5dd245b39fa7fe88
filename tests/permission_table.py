"""Who may reach which URL: the expected-outcome table for tests/test_permission_matrix.py.

Every named URL in the URL conf must appear here; a new URL fails the matrix
test until someone classifies it. For each URL: the object it is requested
for (see `sample_kwargs` in the test), and for each method the actors who may
get past the permission checks. Everyone else must be turned away: visitors to
the sign-in page, signed-in people with 403, 404 or 405 (409 when the request
is allowed but the object is not in a state for it is fine for the allowed).
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

INCIDENT_READERS = frozenset({RESPONDER, CORE_OPS, COUNCIL})
DECLARERS = frozenset({RESPONDER, CORE_OPS})
RESPONDERS_ONLY = frozenset({RESPONDER})  # rita, who also commands the sample incident
OPS_ONLY = frozenset({CORE_OPS})

TABLE.update({
    "incidents:list": (None, {"GET": INCIDENT_READERS}),
    "incidents:declare": (None, {"GET": DECLARERS, "POST": DECLARERS}),
    "incidents:detail": ("incident", {"GET": INCIDENT_READERS}),
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

METHODS = ("GET", "POST")

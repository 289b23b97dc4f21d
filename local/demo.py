"""The demo data ``make run`` creates, and the banner it prints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

if TYPE_CHECKING:
    from local.stack import LocalStack

DEMO_ACCOUNT: dict[str, Any] = {
    "contractor_id": "demo-contractor",
    "business_name": "Demo Roofing LLC",
    "billing_email": "demo@example.com",
    "locale": "en",
    "timezone": "America/Chicago",
    "monthly_budget_cents": 100000,
}


def demo_lead(delivered_at: str) -> dict[str, dict[str, str]]:
    """A delivered lead as the lead distribution system writes it to the Leads table."""
    return {
        "lead_id": {"S": "lead-0001"},
        "contractor_id": {"S": DEMO_ACCOUNT["contractor_id"]},
        "price_cents": {"N": "4500"},
        "delivered_at": {"S": delivered_at},
        "category": {"S": "roofing"},
    }


def create_demo_account(stack: LocalStack) -> str:
    """POST the demo account through the gateway with an admin token; what happened."""
    token = stack.token(role="admin")
    try:
        response = requests.post(
            f"{stack.api_url}/admin/accounts",
            json=DEMO_ACCOUNT,
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
    except requests.RequestException as exc:
        return f"demo account not created: {exc!r}"
    if response.status_code >= 300:
        return (
            f"demo account not created: POST /admin/accounts answered "
            f"{response.status_code} {response.text.strip()[:500]}"
        )
    return f"demo account created: POST /admin/accounts answered {response.status_code}"


def _shown(path: str) -> str:
    """A path as a person at the repository types it: relative to the working directory
    when it lies under it."""
    absolute = Path(path).resolve()
    try:
        return f"{absolute.relative_to(Path.cwd())}/"
    except ValueError:
        return f"{absolute}/"


def banner(stack: LocalStack) -> str:
    config = stack.config()
    api, aws = config["api_endpoint"], config["aws_endpoint"]
    leads = config["tables"].get("leads", "<leads table>")
    lead = json.dumps(demo_lead(config["now"])).replace('"', "'")
    lines = [
        "",
        "Local stack is up.",
        f"  API            {api}",
        f"  API docs       {api}/docs  (Swagger UI of {api}/openapi.json)",
        f"  Lead Manager   {api}/app/  (billing page; sign in as {DEMO_ACCOUNT['contractor_id']})",
        f"  AWS endpoint   {aws}  (region us-east-1, any credentials)",
        f"  Stripe         {config['stripe_endpoint']}  (api key sk_test_anything)",
        f"  Clock          {config['now']}  (simulated; moves only when told)",
        f"  Event bus      {config['event_bus']}",
        f"  Emails         {_shown(config['emails_directory'])}  (one folder per email: "
        "message.html, message.txt, attachments;",
        "                 written when /_local/emails is read or the clock moves)",
        "  Tables",
        *(f"    {key:<12} {name}" for key, name in config["tables"].items()),
    ]
    if stack.demo_result:
        lines += ["", f"  {stack.demo_result}"]
    if stack.notes:
        lines += ["", "  Notes", *(f"    - {note}" for note in stack.notes)]
    lines += [
        "",
        "Try:",
        f'  TOKEN=$(curl -s -X POST {api}/_local/token -d \'{{"role": "admin"}}\''
        " | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"token\"])')",
        f'  curl -s -H "Authorization: Bearer $TOKEN" {api}/admin/accounts/demo-contractor',
        "  .venv/bin/python -c \"import boto3; boto3.client('dynamodb', "
        f"endpoint_url='{aws}', region_name='us-east-1', aws_access_key_id='x', "
        f"aws_secret_access_key='x').put_item(TableName='{leads}', Item={lead})\"",
        f"  curl -s -X POST {api}/_local/clock -d '{{\"advance_seconds\": 86400}}'",
        f"  curl -s {api}/_local/emails    # also /_local/events, /_local/invocations,"
        " /_local/config",
        f"  CONTRACTOR=$(curl -s -X POST {api}/_local/token -d "
        f'\'{{"contractor_id": "{DEMO_ACCOUNT["contractor_id"]}"}}\''
        " | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"token\"])')",
        f'  curl -s -X POST -H "Authorization: Bearer $CONTRACTOR" {api}/me/card/setup-intent',
        "",
        "Ctrl-C stops everything.",
    ]
    return "\n".join(lines)

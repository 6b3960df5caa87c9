"""Cognito post-confirmation trigger: hands a confirmed sign-up to the
sign-up queue and returns at once.

Cognito waits at most 5 s for a trigger; a paused Aurora cluster needs ~15 s
to resume, so this function never touches the database: the tenant worker
reads the queue and writes the tenant row with retries. Only
PostConfirmation_ConfirmSignUp is a sign-up: the same trigger fires for
PostConfirmation_ConfirmForgotPassword, which is returned unchanged.
"""
import json
import logging
import os

SIGN_UP = "PostConfirmation_ConfirmSignUp"

log = logging.getLogger()
log.setLevel(logging.INFO)

_sqs = None


def make_client(endpoint_url=None):
    import boto3
    from botocore.config import Config

    # Short timeouts and one retry keep even a failing call inside Cognito's
    # 5 s: at worst 2 x 1.5 s plus one backoff of at most 1 s (the
    # function's own timeout is 5 s too).
    return boto3.client(
        "sqs",
        endpoint_url=endpoint_url,
        config=Config(connect_timeout=1, read_timeout=1.5, retries={"total_max_attempts": 2, "mode": "standard"}),
    )


def sqs():
    global _sqs
    if _sqs is None:
        _sqs = make_client()
    return _sqs


def sign_up_message(event):
    attrs = event["request"]["userAttributes"]
    return {
        "sub": attrs["sub"],
        "email": attrs.get("email", ""),
        "tenant_name": attrs.get("custom:tenant_name") or attrs.get("email", ""),
        "user_pool_id": event.get("userPoolId", ""),
        "user_name": event.get("userName", ""),
    }


def handler(event, context):
    source = event.get("triggerSource")
    if source != SIGN_UP:
        log.info("ignoring trigger %s", source)
        return event
    message = sign_up_message(event)
    # An error here fails the confirmation call visibly rather than losing
    # the tenant silently; the user is confirmed either way.
    sqs().send_message(
        QueueUrl=os.environ["SIGNUP_QUEUE_URL"],
        MessageBody=json.dumps(message, sort_keys=True),
    )
    log.info("queued sign-up of %s", message["sub"])
    return event

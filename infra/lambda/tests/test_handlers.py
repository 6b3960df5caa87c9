"""The Lambda handlers and their SQL against PostgreSQL 15 with pgvector."""
import json
import random
import socket
import threading
import time
import uuid

import psycopg2
import pytest
from botocore.exceptions import ClientError

from conftest import DataAPI, connect, free_port, load


# --- bootstrap ---------------------------------------------------------------


def schema_snapshot(pg):
    with connect(pg, "str_kb") as kb, kb.cursor() as cur:
        cur.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'bedrock_integration' ORDER BY 1"
        )
        indexes = cur.fetchall()
        cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        ext = cur.fetchone()
        cur.execute(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = 'bedrock_integration.bedrock_kb'::regclass AND attname = 'embedding'"
        )
        vector_type = cur.fetchone()[0]
    with connect(pg, "postgres") as pgc, pgc.cursor() as cur:
        cur.execute("SELECT datname FROM pg_database WHERE datname IN ('str_kb', 'text2Agent-Tenants') ORDER BY 1")
        dbs = [r[0] for r in cur.fetchall()]
        cur.execute("SELECT rolname FROM pg_roles WHERE rolname IN ('bedrock_user', 'tenant_writer') ORDER BY 1")
        roles = [r[0] for r in cur.fetchall()]
    with connect(pg, "text2Agent-Tenants") as t, t.cursor() as cur:
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
        tables = [r[0] for r in cur.fetchall()]
    return {"indexes": indexes, "ext": ext, "vector": vector_type, "dbs": dbs, "roles": roles, "tables": tables}


def test_bootstrap_twice_is_idempotent(pg, bootstrapped, new_bootstrap):
    first = schema_snapshot(pg)
    result = new_bootstrap(DataAPI(pg)).run()
    assert result["created_databases"] == [], "second run must not create databases again"
    assert result["bedrock_password_generated"] is False, "the second run reuses the stored password"
    assert result["statements"] > 0
    second = schema_snapshot(pg)
    assert first == second
    assert second["dbs"] == ["str_kb", "text2Agent-Tenants"]
    assert second["roles"] == ["bedrock_user", "tenant_writer"]
    assert second["tables"] == ["tenants", "users"]
    assert second["vector"] == "vector(1024)"
    assert tuple(int(x) for x in second["ext"][0].split(".")[:2]) >= (0, 5), "Bedrock needs pgvector >= 0.5.0"
    names = {name: d for name, d in second["indexes"]}
    assert "USING hnsw (embedding vector_cosine_ops)" in names["bedrock_kb_embedding_hnsw"]
    assert "to_tsvector('simple'::regconfig, chunks)" in names["bedrock_kb_chunks_fts"]
    assert "USING gin (custom_metadata)" in names["bedrock_kb_custom_metadata"]


def resuming():
    return ClientError(
        {"Error": {"Code": "DatabaseResumingException", "Message": "The Aurora DB instance is resuming after being auto-paused"}},
        "ExecuteStatement",
    )


class Resuming(DataAPI):
    """Fault injection: the first `pauses` calls answer like a paused cluster."""

    def __init__(self, pg, pauses):
        super().__init__(pg)
        self.pauses = pauses

    def execute_statement(self, **kw):
        if self.pauses > 0:
            self.pauses -= 1
            raise resuming()
        return super().execute_statement(**kw)


def test_bootstrap_retries_while_the_database_resumes(pg, bootstrapped, new_bootstrap):
    sleeps = []
    api = Resuming(pg, pauses=4)
    result = new_bootstrap(api, deadline_seconds=60, sleep=sleeps.append).run()
    assert result["retries"] == 4
    assert sleeps == [0.5, 1.0, 2.0, 4.0], "exponential backoff"
    assert api.pauses == 0


def test_bootstrap_gives_up_after_its_deadline(pg, bootstrapped, new_bootstrap):
    api = Resuming(pg, pauses=10**6)
    b = new_bootstrap(api, deadline_seconds=0.2, sleep=time.sleep)
    with pytest.raises(ClientError) as exc:
        b.run()
    assert exc.value.response["Error"]["Code"] == "DatabaseResumingException"


def test_bootstrap_does_not_retry_sql_errors(pg, bootstrapped, new_bootstrap):
    class Broken(DataAPI):
        def execute_statement(self, **kw):
            raise ClientError({"Error": {"Code": "BadRequestException", "Message": "syntax error"}}, "ExecuteStatement")

    sleeps = []
    with pytest.raises(ClientError):
        new_bootstrap(Broken(pg), sleep=sleeps.append).run()
    assert sleeps == []


def scram_matches(verifier, password):
    """Checks a PostgreSQL SCRAM-SHA-256 verifier against a password (RFC 5802)."""
    import base64
    import hashlib
    import hmac

    head, keys = verifier.split("$", 1)[1], verifier.split("$", 2)[2]
    iterations, salt = head.split("$")[0].split(":")
    stored_key = base64.b64decode(keys.split(":")[0])
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    return hashlib.sha256(client_key).digest() == stored_key


def test_bedrock_user_logs_in_with_the_password_of_its_secret(pg, bootstrapped, bedrock_secret):
    client, arn = bedrock_secret
    stored = json.loads(client.get_secret_value(SecretId=arn)["SecretString"])
    assert stored["username"] == "bedrock_user"
    assert len(stored["password"]) >= 32
    with connect(pg, "postgres") as c, c.cursor() as cur:
        cur.execute("SELECT rolcanlogin, rolpassword FROM pg_authid WHERE rolname = 'bedrock_user'")
        can_login, verifier = cur.fetchone()
    assert can_login
    assert verifier.startswith("SCRAM-SHA-256$"), verifier[:20]
    assert scram_matches(verifier, stored["password"])
    assert not scram_matches(verifier, stored["password"] + "x"), "the check itself must be able to fail"


def test_quote_literal_doubles_quotes(bootstrapped):
    assert bootstrapped.quote_literal("a'b") == "'a''b'"
    with pytest.raises(ValueError):
        bootstrapped.quote_literal("a\x00b")


def test_split_statements_keeps_do_blocks_and_quotes_whole(bootstrapped):
    text = "SELECT ';'; -- a; comment\nDO $$ BEGIN PERFORM 1; END $$;\nSELECT \"a;b\" FROM t;\nSELECT $x$;$x$"
    assert bootstrapped.split_statements(text) == [
        "SELECT ';'",
        "DO $$ BEGIN PERFORM 1; END $$",
        'SELECT "a;b" FROM t',
        "SELECT $x$;$x$",
    ]


# --- vector store --------------------------------------------------------------


def vec(rng):
    return "[" + ",".join(f"{rng.uniform(-1, 1):.5f}" for _ in range(1024)) + "]"


def test_similarity_query_uses_the_hnsw_index(pg, bootstrapped):
    rng = random.Random(7)
    conn = connect(pg, "str_kb")
    try:
        with conn.cursor() as cur:
            cur.execute("TRUNCATE bedrock_integration.bedrock_kb")
            rows = [(str(uuid.uuid4()), vec(rng), f"chunk {i}", json.dumps({"i": i}), json.dumps({"doc": i % 5})) for i in range(300)]
            cur.executemany(
                "INSERT INTO bedrock_integration.bedrock_kb (id, embedding, chunks, metadata, custom_metadata) "
                "VALUES (%s, %s::vector, %s, %s::json, %s::jsonb)",
                rows,
            )
            cur.execute("ANALYZE bedrock_integration.bedrock_kb")
            target_id, target_vec = rows[42][0], rows[42][1]
            query = (
                "SELECT id, embedding <=> %s::vector AS distance FROM bedrock_integration.bedrock_kb "
                "ORDER BY embedding <=> %s::vector LIMIT 5"
            )
            # A 300-row table is cheap to scan: turn the seq scan off so the
            # planner shows it can (and does) answer through the index.
            cur.execute("SET enable_seqscan = off")
            cur.execute("EXPLAIN " + query, (target_vec, target_vec))
            plan = "\n".join(r[0] for r in cur.fetchall())
            assert "bedrock_kb_embedding_hnsw" in plan, plan
            cur.execute(query, (target_vec, target_vec))
            found = cur.fetchall()
            assert str(found[0][0]) == target_id
            assert found[0][1] == pytest.approx(0.0, abs=1e-6)
    finally:
        conn.close()


# --- post-confirmation trigger ----------------------------------------------------


def event(source, sub=None):
    return {
        "version": "1",
        "triggerSource": source,
        "region": "eu-west-2",
        "userPoolId": "eu-west-2_example",
        "userName": "alice",
        "request": {"userAttributes": {"sub": sub or str(uuid.uuid4()), "email": "alice@example.com", "email_verified": "true"}},
        "response": {},
    }


def received(client, url):
    out = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
    return out.get("Messages", [])


def test_confirm_sign_up_is_queued(sqs_queue, monkeypatch):
    client, url = sqs_queue
    mod = load("post_confirmation_handler", "post_confirmation")
    monkeypatch.setenv("SIGNUP_QUEUE_URL", url)
    mod._sqs = client
    ev = event("PostConfirmation_ConfirmSignUp")
    start = time.monotonic()
    assert mod.handler(ev, None) is ev, "a trigger returns the event"
    assert time.monotonic() - start < 5, "Cognito waits at most 5 s"
    msgs = received(client, url)
    assert len(msgs) == 1
    body = json.loads(msgs[0]["Body"])
    assert body["sub"] == ev["request"]["userAttributes"]["sub"]
    assert body["email"] == "alice@example.com"


def test_forgot_password_is_ignored(sqs_queue, monkeypatch):
    client, url = sqs_queue
    mod = load("post_confirmation_handler", "post_confirmation")
    monkeypatch.setenv("SIGNUP_QUEUE_URL", url)
    mod._sqs = client
    ev = event("PostConfirmation_ConfirmForgotPassword")
    assert mod.handler(ev, None) is ev
    assert received(client, url) == []


class Silent:
    """Fault injection: an endpoint that accepts connections and never answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def close(self):
        self.sock.close()


def test_trigger_fails_within_cognitos_5_seconds_when_sqs_hangs(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-2")
    silent = Silent()
    try:
        mod = load("post_confirmation_handler", "post_confirmation")
        monkeypatch.setenv("SIGNUP_QUEUE_URL", silent.url + "/123456789012/signup")
        mod._sqs = mod.make_client(endpoint_url=silent.url)  # the handler's own timeouts and retries
        start = time.monotonic()
        with pytest.raises(Exception) as exc:
            mod.handler(event("PostConfirmation_ConfirmSignUp"), None)
        elapsed = time.monotonic() - start
        assert "timeout" in type(exc.value).__name__.lower() or "timed out" in str(exc.value).lower(), exc.value
        assert elapsed < 5, f"a hanging SQS took {elapsed:.1f}s; Cognito gives up after 5 s"
    finally:
        silent.close()


# --- tenant worker -------------------------------------------------------------


@pytest.fixture()
def worker(pg, bootstrapped, monkeypatch):
    monkeypatch.setenv("DB_HOST", pg["host"])
    monkeypatch.setenv("DB_PORT", str(pg["port"]))
    # The role the bootstrap creates for the worker: its grants must be enough
    # (the test cluster trusts local connections, so no token is needed).
    monkeypatch.setenv("DB_USER", "tenant_writer")
    monkeypatch.setenv("DB_NAME", "text2Agent-Tenants")
    monkeypatch.setenv("DB_IAM_AUTH", "false")
    monkeypatch.setenv("DB_SSLMODE", "disable")
    mod = load("tenant_worker_handler", "tenant_worker")
    yield mod


def sqs_event(*bodies):
    return {"Records": [{"messageId": f"m{i}", "body": b} for i, b in enumerate(bodies)]}


def count(pg, table, sub):
    col = "owner_sub" if table == "tenants" else "cognito_sub"
    with connect(pg, "text2Agent-Tenants") as c, c.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {table} WHERE {col} = %s", (sub,))
        return cur.fetchone()[0]


def test_worker_insert_twice_writes_one_row(pg, worker):
    sub = str(uuid.uuid4())
    body = json.dumps({"sub": sub, "email": "bob@example.com", "tenant_name": "Bob's team"})
    assert worker.handler(sqs_event(body), None) == {"batchItemFailures": []}
    assert worker.handler(sqs_event(body, body), None) == {"batchItemFailures": []}
    assert count(pg, "tenants", sub) == 1
    assert count(pg, "users", sub) == 1


def test_worker_reports_a_bad_message_and_writes_the_rest(pg, worker):
    sub = str(uuid.uuid4())
    good = json.dumps({"sub": sub, "email": "carol@example.com"})
    result = worker.handler(sqs_event("not json", json.dumps({"sub": "not-a-uuid", "email": "x@y"}), good), None)
    assert result == {"batchItemFailures": [{"itemIdentifier": "m0"}, {"itemIdentifier": "m1"}]}
    assert count(pg, "users", sub) == 1


class LateProxy:
    """Fault injection: nothing listens on the port (connections are
    refused) until `after` seconds have passed; then it forwards to the
    real server."""

    def __init__(self, target_port, after):
        self.port = free_port()
        self.target_port = target_port
        self.after = after
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        if self.stop.wait(self.after):
            return
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", self.port))
        srv.listen()
        srv.settimeout(0.2)
        while not self.stop.is_set():
            try:
                client, _ = srv.accept()
            except socket.timeout:
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()
        srv.close()

    @staticmethod
    def _pipe(a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def test_worker_retries_while_the_database_refuses_connections(pg, worker, monkeypatch):
    proxy = LateProxy(pg["port"], after=2.0)
    try:
        monkeypatch.setenv("DB_PORT", str(proxy.port))
        monkeypatch.setenv("DB_CONNECT_DEADLINE_SECONDS", "30")
        sleeps = []
        real_sleep = time.sleep
        conn = worker.connect(sleep=lambda s: (sleeps.append(s), real_sleep(s)))
        try:
            assert len(sleeps) >= 2, "it was refused at least twice before the database came up"
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
                assert cur.fetchone() == (1,)
        finally:
            conn.close()
        sub = str(uuid.uuid4())
        assert worker.handler(sqs_event(json.dumps({"sub": sub, "email": "dan@example.com"})), None) == {"batchItemFailures": []}
        assert count(pg, "users", sub) == 1
    finally:
        proxy.stop.set()


def test_worker_gives_up_when_the_database_stays_down(worker, monkeypatch):
    monkeypatch.setenv("DB_PORT", str(free_port()))
    monkeypatch.setenv("DB_CONNECT_DEADLINE_SECONDS", "1")
    with pytest.raises(psycopg2.OperationalError):
        worker.connect(sleep=time.sleep)

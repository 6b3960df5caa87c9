"""Creates the databases, the pgvector store, the tenant tables and the
login Bedrock uses (bedrock_user, password kept in its own secret) in the
Text2Agent Aurora cluster, through the RDS Data API.

Terraform invokes it (aws_lambda_invocation) after the cluster instance
exists and before the Bedrock knowledge base is created. Every statement is
idempotent, so a re-run (new SQL, a retried apply) changes only what is
missing. A paused Aurora Serverless v2 cluster answers
DatabaseResumingException for ~15-30 s while it resumes: each statement is
retried with backoff until RESUME_DEADLINE_SECONDS.
"""
import json
import logging
import os
import pathlib
import secrets
import time

SQL_DIR = pathlib.Path(__file__).resolve().parent / "sql"
KB_DATABASE = "str_kb"
TENANTS_DATABASE = "text2Agent-Tenants"
RETRYABLE = {
    "DatabaseResumingException",
    "ServiceUnavailableError",
    "ThrottlingException",
}

log = logging.getLogger()
log.setLevel(logging.INFO)

_client = None
_secrets = None


def sql(name):
    return (SQL_DIR / name).read_text()


def split_statements(text):
    """Splits SQL into statements on top-level semicolons: the Data API runs
    one statement per call. Quotes, dollar-quoted bodies (DO blocks) and
    comments are kept whole."""
    out, cur, i, n = [], [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("--", i):
            j = text.find("\n", i)
            i = n if j < 0 else j + 1
            continue
        if c in ("'", '"'):
            j = i + 1
            while j < n:
                if text[j] == c and text[j + 1 : j + 2] == c:
                    j += 2
                    continue
                if text[j] == c:
                    break
                j += 1
            cur.append(text[i : j + 1])
            i = j + 1
            continue
        if c == "$":
            k = text.find("$", i + 1)
            tag = text[i : k + 1] if k > 0 else ""
            if tag and all(ch.isalnum() or ch == "_" for ch in tag[1:-1]):
                end = text.find(tag, k + 1)
                if end < 0:
                    raise ValueError(f"unterminated dollar quote {tag}")
                cur.append(text[i : end + len(tag)])
                i = end + len(tag)
                continue
        if c == ";":
            stmt = "".join(cur).strip()
            if stmt:
                out.append(stmt)
            cur = []
            i += 1
            continue
        cur.append(c)
        i += 1
    stmt = "".join(cur).strip()
    if stmt:
        out.append(stmt)
    return out


def quote_literal(value):
    """A PostgreSQL string literal (standard_conforming_strings is on)."""
    if "\x00" in value:
        raise ValueError("a password cannot contain NUL")
    return "'" + value.replace("'", "''") + "'"


class Bootstrap:
    def __init__(
        self,
        client,
        cluster_arn,
        secret_arn,
        secrets_client,
        bedrock_secret_arn,
        deadline_seconds=60.0,
        sleep=time.sleep,
    ):
        self.client = client
        self.cluster_arn = cluster_arn
        self.secret_arn = secret_arn
        self.secrets = secrets_client
        self.bedrock_secret_arn = bedrock_secret_arn
        self.deadline_seconds = deadline_seconds
        self.sleep = sleep
        self.retries = 0

    def execute(self, database, statement, parameters=None):
        deadline = time.monotonic() + self.deadline_seconds
        delay = 0.5
        while True:
            try:
                return self.client.execute_statement(
                    resourceArn=self.cluster_arn,
                    secretArn=self.secret_arn,
                    database=database,
                    sql=statement,
                    parameters=parameters or [],
                )
            except Exception as err:  # botocore ClientError carries the code
                code = getattr(err, "response", {}).get("Error", {}).get("Code", "")
                if code not in RETRYABLE or time.monotonic() + delay > deadline:
                    raise
                self.retries += 1
                log.info("database %s: %s, retrying in %.1fs", database, code, delay)
                self.sleep(delay)
                delay = min(delay * 2, 8.0)

    def ensure_database(self, name, create_file):
        result = self.execute(
            "postgres",
            sql("database_exists.sql"),
            [{"name": "name", "value": {"stringValue": name}}],
        )
        if result["records"][0][0]["longValue"] > 0:
            return False
        try:
            self.execute("postgres", sql(create_file))
        except Exception as err:
            # Another run created it between the check and the create.
            if "already exists" not in str(err):
                raise
        return True

    def run_file(self, database, name):
        count = 0
        for statement in split_statements(sql(name)):
            self.execute(database, statement)
            count += 1
        return count

    def ensure_bedrock_login(self):
        """Gives bedrock_user the password of its secret, generating and
        storing one on the first run. The secret is written before the role
        is changed, so a failure in between is repaired by the next run."""
        try:
            value = self.secrets.get_secret_value(SecretId=self.bedrock_secret_arn)
            password = json.loads(value["SecretString"])["password"]
            generated = False
        except Exception as err:
            code = getattr(err, "response", {}).get("Error", {}).get("Code", "")
            if code != "ResourceNotFoundException":  # no version yet: first run
                raise
            password = secrets.token_urlsafe(32)
            self.secrets.put_secret_value(
                SecretId=self.bedrock_secret_arn,
                SecretString=json.dumps({"username": "bedrock_user", "password": password}),
            )
            generated = True
        (statement,) = split_statements(sql("bedrock_user_login.sql"))
        self.execute(KB_DATABASE, statement.replace("{password}", quote_literal(password)))
        return generated

    def run(self):
        created = []
        if self.ensure_database(KB_DATABASE, "create_kb_database.sql"):
            created.append(KB_DATABASE)
        if self.ensure_database(TENANTS_DATABASE, "create_tenants_database.sql"):
            created.append(TENANTS_DATABASE)
        statements = self.run_file(KB_DATABASE, "str_kb.sql")
        statements += self.run_file(TENANTS_DATABASE, "tenants.sql")
        generated = self.ensure_bedrock_login()
        return {
            "created_databases": created,
            "statements": statements,
            "bedrock_password_generated": generated,
            "retries": self.retries,
        }


def client():
    global _client
    if _client is None:
        import boto3  # in the Lambda runtime; imported lazily for local tests

        _client = boto3.client("rds-data")
    return _client


def secrets_client():
    global _secrets
    if _secrets is None:
        import boto3

        _secrets = boto3.client("secretsmanager")
    return _secrets


def handler(event, context):
    result = Bootstrap(
        client(),
        os.environ["CLUSTER_ARN"],
        os.environ["SECRET_ARN"],
        secrets_client(),
        os.environ["BEDROCK_SECRET_ARN"],
        float(os.environ.get("RESUME_DEADLINE_SECONDS", "90")),
    ).run()
    log.info("bootstrap done: %s", json.dumps(result))
    return result

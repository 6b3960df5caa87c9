"""Knowledge-base sync: starts an ingestion job of the S3 data source (the
documents bucket) into the Bedrock knowledge base, and waits for it.

The vector store is an Aurora Serverless v2 database that pauses when idle
(min_capacity 0). Bedrock writes the vectors through the RDS Data API,
which answers DatabaseResumingException ("resuming after being
auto-paused") until the instance is up (~15 s, longer after a day's
pause). So the sync first wakes the database with a query of its own,
retried with backoff for up to RESUME_DEADLINE_SECONDS, and only then
starts the job; a job that fails because the database was resuming is
started again (up to ATTEMPTS times). Invoke it after uploading documents:

    aws lambda invoke --function-name <project>-<environment>-kb-sync out.json
"""
import json
import logging
import os
import time

RETRYABLE = {
    "DatabaseResumingException",
    "ServiceUnavailableError",
    "ThrottlingException",
}
DONE = {"COMPLETE", "FAILED", "STOPPED"}

log = logging.getLogger()
log.setLevel(logging.INFO)


def error_code(err):
    return getattr(err, "response", {}).get("Error", {}).get("Code", "")


def resuming_failure(job):
    """Whether a failed ingestion job failed on a paused database."""
    text = " ".join(job.get("failureReasons") or []).lower()
    return any(k in text for k in ("resuming", "auto-paused", "databaseresumingexception"))


class Sync:
    def __init__(
        self,
        rds_data,
        agent,
        cluster_arn,
        secret_arn,
        database,
        knowledge_base_id,
        data_source_id,
        resume_deadline_seconds=120.0,
        wait_seconds=600.0,
        poll_seconds=15.0,
        attempts=3,
        sleep=time.sleep,
    ):
        self.rds_data = rds_data
        self.agent = agent
        self.cluster_arn = cluster_arn
        self.secret_arn = secret_arn
        self.database = database
        self.knowledge_base_id = knowledge_base_id
        self.data_source_id = data_source_id
        self.resume_deadline_seconds = resume_deadline_seconds
        self.wait_seconds = wait_seconds
        self.poll_seconds = poll_seconds
        self.attempts = attempts
        self.sleep = sleep
        self.retries = 0

    def wake(self):
        """Runs SELECT 1 in the vector store until the database answers."""
        deadline = time.monotonic() + self.resume_deadline_seconds
        delay = 0.5
        while True:
            try:
                self.rds_data.execute_statement(
                    resourceArn=self.cluster_arn,
                    secretArn=self.secret_arn,
                    database=self.database,
                    sql="SELECT 1",
                    parameters=[],
                )
                return
            except Exception as err:  # botocore ClientError carries the code
                code = error_code(err)
                if code not in RETRYABLE or time.monotonic() + delay > deadline:
                    raise
                self.retries += 1
                log.info("database %s: %s, retrying in %.1fs", self.database, code, delay)
                self.sleep(delay)
                delay = min(delay * 2, 8.0)

    def wait(self, job):
        deadline = time.monotonic() + self.wait_seconds
        while job["status"] not in DONE and time.monotonic() + self.poll_seconds <= deadline:
            self.sleep(self.poll_seconds)
            job = self.agent.get_ingestion_job(
                knowledgeBaseId=self.knowledge_base_id,
                dataSourceId=self.data_source_id,
                ingestionJobId=job["ingestionJobId"],
            )["ingestionJob"]
        return job

    def run(self):
        jobs = []
        for attempt in range(1, self.attempts + 1):
            self.wake()
            job = self.agent.start_ingestion_job(
                knowledgeBaseId=self.knowledge_base_id,
                dataSourceId=self.data_source_id,
                description="text2agent kb-sync",
            )["ingestionJob"]
            log.info("ingestion job %s started (attempt %d)", job["ingestionJobId"], attempt)
            job = self.wait(job)
            jobs.append(job["ingestionJobId"])
            if job["status"] == "FAILED" and resuming_failure(job) and attempt < self.attempts:
                log.info("ingestion job %s failed while the database resumed: starting again", job["ingestionJobId"])
                continue
            break
        return {
            "ingestion_job_id": job["ingestionJobId"],
            "status": job["status"],
            "failure_reasons": job.get("failureReasons") or [],
            "statistics": job.get("statistics") or {},
            "jobs": jobs,
            "resume_retries": self.retries,
        }


def handler(event, context):
    import boto3  # in the Lambda runtime

    result = Sync(
        boto3.client("rds-data"),
        boto3.client("bedrock-agent"),
        os.environ["CLUSTER_ARN"],
        os.environ["SECRET_ARN"],
        os.environ["DATABASE_NAME"],
        os.environ["KNOWLEDGE_BASE_ID"],
        os.environ["DATA_SOURCE_ID"],
        resume_deadline_seconds=float(os.environ.get("RESUME_DEADLINE_SECONDS", "120")),
        wait_seconds=float(os.environ.get("WAIT_SECONDS", "600")),
    ).run()
    log.info("sync done: %s", json.dumps(result, default=str))
    if result["status"] == "FAILED":
        raise RuntimeError(f"ingestion job {result['ingestion_job_id']} failed: {result['failure_reasons']}")
    return result

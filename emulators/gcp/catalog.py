"""Which Google APIs the emulator knows, for serviceusage.

Policy: only the services listed here (plus any added with
``GcpEmulator(extra_services=...)`` or ``POST /emulator/config
{"known_services": {...}}``) can be enabled. Anything else, even a plausible
``*.googleapis.com`` name, is refused like Google refuses a service that does
not exist: 403 PERMISSION_DENIED, reason SERVICE_CONFIG_NOT_FOUND_OR_PERMISSION_DENIED.
Accepting every ``*.googleapis.com`` would hide typos that fail in real GCP.
"""

KNOWN_SERVICES: dict[str, str] = {
    "bigquery.googleapis.com": "BigQuery API",
    "billingbudgets.googleapis.com": "Cloud Billing Budget API",
    "cloudbilling.googleapis.com": "Cloud Billing API",
    "cloudfunctions.googleapis.com": "Cloud Functions API",
    "cloudresourcemanager.googleapis.com": "Cloud Resource Manager API",
    "compute.googleapis.com": "Compute Engine API",
    "container.googleapis.com": "Kubernetes Engine API",
    "iam.googleapis.com": "Identity and Access Management (IAM) API",
    "iamcredentials.googleapis.com": "IAM Service Account Credentials API",
    "logging.googleapis.com": "Cloud Logging API",
    "monitoring.googleapis.com": "Cloud Monitoring API",
    "oslogin.googleapis.com": "Cloud OS Login API",
    "pubsub.googleapis.com": "Cloud Pub/Sub API",
    "run.googleapis.com": "Cloud Run Admin API",
    "secretmanager.googleapis.com": "Secret Manager API",
    "serviceusage.googleapis.com": "Service Usage API",
    "sqladmin.googleapis.com": "Cloud SQL Admin API",
    "storage.googleapis.com": "Cloud Storage API",
}

# Enabling a service enables what it depends on, and disabling a dependency of
# an enabled service fails unless disableDependentServices is set
# (https://cloud.google.com/service-usage/docs/enable-disable#disabling).
# Only the well-known dependency is modelled: GKE runs on Compute Engine.
SERVICE_DEPENDENCIES: dict[str, tuple[str, ...]] = {
    "container.googleapis.com": ("compute.googleapis.com",),
}

# The service agent Google creates when a service is enabled, and the role it is granted
# on the project (https://cloud.google.com/iam/docs/service-agents). Only a few are
# modelled; the default service accounts some services also create (Compute Engine's
# PROJECT_NUMBER-compute@developer.gserviceaccount.com) are not.
SERVICE_AGENTS: dict[str, tuple[str, str]] = {
    "compute.googleapis.com": ("service-{number}@compute-system.iam.gserviceaccount.com",
                               "roles/compute.serviceAgent"),
    "container.googleapis.com": ("service-{number}@container-engine-robot.iam.gserviceaccount.com",
                                 "roles/container.serviceAgent"),
    "pubsub.googleapis.com": ("service-{number}@gcp-sa-pubsub.iam.gserviceaccount.com",
                              "roles/pubsub.serviceAgent"),
    "run.googleapis.com": ("service-{number}@serverless-robot-prod.iam.gserviceaccount.com",
                           "roles/run.serviceAgent"),
}

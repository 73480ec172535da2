#!/bin/sh
# One-shot namespace job for docker-compose.yml (service `temporal-namespace`),
# run in temporalio/admin-tools once the server's port is open: waits until the
# cluster reports healthy, creates the namespace the workers poll unless it
# exists, and exits 0 only when the namespace can be described, so a worker that
# waits for this job (service_completed_successfully) never starts against a
# missing namespace.
set -eu

NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
RETENTION="${TEMPORAL_NAMESPACE_RETENTION:-72h}"
: "${TEMPORAL_ADDRESS:?TEMPORAL_ADDRESS is required}"
ATTEMPTS=60

attempt=1
until temporal operator cluster health --address "$TEMPORAL_ADDRESS"; do
    [ "$attempt" -lt "$ATTEMPTS" ] || { echo "namespace: cluster not healthy" >&2; exit 1; }
    attempt=$((attempt + 1))
    sleep 2
done

attempt=1
until temporal operator namespace describe --address "$TEMPORAL_ADDRESS" \
        --namespace "$NAMESPACE" >/dev/null 2>&1; do
    [ "$attempt" -lt "$ATTEMPTS" ] || { echo "namespace: $NAMESPACE not created" >&2; exit 1; }
    # fails harmlessly if another run created it meanwhile; describe decides
    temporal operator namespace create --address "$TEMPORAL_ADDRESS" \
        --namespace "$NAMESPACE" --retention "$RETENTION" || true
    attempt=$((attempt + 1))
    sleep 2
done
echo "namespace: $NAMESPACE ready"

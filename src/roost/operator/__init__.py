"""The Roost operator: Spawn's ActorSystem and ActorHost resources (spawn-eigr.io/v1) reconciled
into what the Helm chart renders for the same settings (docs/kubernetes.md).

Pure modules (`conditions`, `system`, `host`) map resources to chart values and conditions;
`chart` renders the chart, `kube` is the API behind a small protocol, `reconcile` ties them
together, and `handlers` is the thin kopf layer (`roost-operator`, the `operator` extra).
"""

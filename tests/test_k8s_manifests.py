"""deploy/k8s/: valid Kubernetes objects (checked offline against the API schemas), consistent with each other and
with the node's own configuration."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest
import yaml

from deidnode.config import settings_from_dict

kv = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate is not installed (test extra)")

K8S = Path(__file__).resolve().parents[1] / "deploy" / "k8s"
# The oldest Kubernetes still commonly run with StatefulSet PVC retention, and the newest the validator knows.
VERSIONS = ["1.27.0", kv.latest_version()]


def _docs(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]


def _kustomization() -> dict:
    return yaml.safe_load((K8S / "kustomization.yaml").read_text())


def _all() -> list[dict]:
    return [d for f in _kustomization()["resources"] for d in _docs(f)]


def _one(kind: str, name: str | None = None) -> dict:
    (doc,) = [d for d in _all() if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    return doc


def _container() -> dict:
    (c,) = _one("StatefulSet")["spec"]["template"]["spec"]["containers"]
    return c


def _node_config():
    return settings_from_dict(yaml.safe_load(_one("ConfigMap")["data"]["node.yaml"]))


@pytest.mark.parametrize("version", VERSIONS)
def test_every_manifest_is_a_valid_kubernetes_object(version):
    docs = _all()
    assert {d["kind"] for d in docs} == {"ConfigMap", "StatefulSet", "Service", "PodDisruptionBudget"}
    for doc in docs:
        kv.validate(doc, version, strict=True)  # raises on an unknown or mistyped field


def test_the_validator_is_strict_and_offline():
    sts = _one("StatefulSet")
    bad = {**sts, "spec": {**sts["spec"], "replica": 2}}
    with pytest.raises(kv.ValidationError):
        kv.validate(bad, VERSIONS[-1], strict=True)


def test_kustomization_applies_every_manifest_and_makes_the_key_a_secret():
    k = _kustomization()
    assert sorted(k["resources"]) == sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
    (gen,) = k["secretGenerator"]
    assert gen["name"] == "deidnode-key" and gen["files"] == ["deid.key"]
    assert k["generatorOptions"]["disableNameSuffixHash"] is True
    assert "deid.key" in (K8S / ".gitignore").read_text().split()


def test_each_replica_has_its_own_volume_for_spool_and_quarantine():
    sts = _one("StatefulSet")
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    mounts = {m["name"]: PurePosixPath(m["mountPath"]) for m in _container()["volumeMounts"]}
    cfg = _node_config()
    for path in (cfg.spool.path, cfg.quarantine_path):
        assert mounts[claim["metadata"]["name"]] in PurePosixPath(path).parents
    retention = sts["spec"]["persistentVolumeClaimRetentionPolicy"]
    assert retention == {"whenDeleted": "Retain", "whenScaled": "Retain"}  # a spool outlives its pod


def test_the_key_is_mounted_from_the_secret_where_the_config_reads_it():
    spec = _one("StatefulSet")["spec"]["template"]["spec"]
    (vol,) = [v for v in spec["volumes"] if "secret" in v]
    assert vol["secret"]["secretName"] == "deidnode-key" and vol["secret"]["optional"] is False
    assert vol["secret"]["defaultMode"] == 0o400
    (mount,) = [m for m in _container()["volumeMounts"] if m["name"] == vol["name"]]
    assert mount["readOnly"] is True
    assert PurePosixPath(_node_config().keys.key_file) == PurePosixPath(mount["mountPath"]) / "deid.key"


def test_the_config_map_is_a_node_config_the_container_reads():
    c = _container()
    cfg = _node_config()  # raises ConfigError on any invalid value
    config_arg = PurePosixPath(c["args"][c["args"].index("--config") + 1])
    (mount,) = [m for m in c["volumeMounts"] if m["name"] == "config"]
    assert config_arg == PurePosixPath(mount["mountPath"]) / "node.yaml"
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"dicom": cfg.node.port, "metrics": cfg.metrics.port}
    assert cfg.metrics.host == "0.0.0.0" and cfg.node.host == "0.0.0.0"
    # A container sees all of its host's cores: the worker count follows the CPU request, not os.cpu_count().
    assert cfg.workers.count == int(c["resources"]["requests"]["cpu"])


def test_probes_resources_and_shutdown_time_are_set():
    c = _container()
    for probe in ("readinessProbe", "startupProbe"):
        cmd = c[probe]["exec"]["command"]
        assert cmd[0] == "deidnode-association-check" and cmd[cmd.index("--probe") + 1].endswith(":11112")
    assert c["livenessProbe"]["httpGet"]["port"] == "metrics"
    assert {"cpu", "memory"} <= set(c["resources"]["requests"]) and "memory" in c["resources"]["limits"]
    grace = _one("StatefulSet")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace >= _node_config().node.shutdown_grace_seconds + 30
    assert "K8SPROBE" in c["readinessProbe"]["exec"]["command"]
    assert not _node_config().node.allowed_calling_aets  # or it must list K8SPROBE (the probes' AE title)


def test_services_and_the_disruption_budget_select_the_replicas():
    labels = _one("StatefulSet")["spec"]["template"]["metadata"]["labels"]
    port_names = {p["name"] for p in _container()["ports"]}
    for svc in [d for d in _all() if d["kind"] == "Service"]:
        assert svc["spec"]["selector"].items() <= labels.items()
        assert {p["targetPort"] for p in svc["spec"]["ports"]} <= port_names
    assert _one("Service", "deidnode-headless")["spec"]["clusterIP"] == "None"
    # Draining = relabelling a pod serving=false: the DICOM Service drops it, the StatefulSet keeps owning it.
    assert _one("Service", "deidnode")["spec"]["selector"]["deidnode.io/serving"] == "true"
    assert "deidnode.io/serving" not in _one("StatefulSet")["spec"]["selector"]["matchLabels"]
    assert "deidnode.io/serving" not in _one("Service", "deidnode-headless")["spec"]["selector"]
    assert _one("StatefulSet")["spec"]["serviceName"] == "deidnode-headless"
    pdb = _one("PodDisruptionBudget")["spec"]
    assert pdb["selector"]["matchLabels"].items() <= labels.items() and pdb["maxUnavailable"] == 1

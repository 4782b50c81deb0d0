#!/usr/bin/env python3
"""Validates deploy/ offline: the Kubernetes manifests (YAML parses, required fields,
selectors that select, ports and Secrets that exist, the Core's DNS discovery pointing at
the Workers' headless Service), the Prometheus configurations (promtool), the compose file,
the Dockerfiles, and the systemd units (systemd-analyze verify).

usage: test_deploy.py SOURCE_DIR FUNLESS_BINARY
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

SRC, FUNLESS = sys.argv[1], sys.argv[2]
DEPLOY = os.path.join(SRC, "deploy")
passed = failed = 0


def check(name, ok, why=""):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print(f"FAIL {name}{': ' + why if why else ''}")


# ---- Kubernetes ----
docs = []
for path in sorted(glob.glob(os.path.join(DEPLOY, "k8s", "*.yaml"))):
    try:
        loaded = [d for d in yaml.safe_load_all(open(path)) if d]
        check(f"{path} parses", True)
    except yaml.YAMLError as e:
        check(f"{path} parses", False, str(e))
        continue
    for d in loaded:
        d["_file"] = os.path.basename(path)
        docs.append(d)

by_kind = {}
for d in docs:
    where = f"{d['_file']} {d.get('kind')}/{d.get('metadata', {}).get('name')}"
    check(f"{where} has apiVersion, kind, metadata.name",
          all(k in d for k in ("apiVersion", "kind")) and "name" in d.get("metadata", {}))
    if d.get("kind") != "Namespace":
        check(f"{where} is in namespace funless", d["metadata"].get("namespace") == "funless")
    by_kind.setdefault(d.get("kind"), []).append(d)

for kind in ("Namespace", "Secret", "Service", "Deployment", "DaemonSet", "StatefulSet",
             "ConfigMap"):
    check(f"a {kind} is defined", kind in by_kind)

workloads = [d for k in ("Deployment", "DaemonSet", "StatefulSet") for d in by_kind.get(k, [])]
secrets = {d["metadata"]["name"]: d for d in by_kind.get("Secret", [])}
configmaps = {d["metadata"]["name"]: d for d in by_kind.get("ConfigMap", [])}


def containers(w):
    return w["spec"]["template"]["spec"]["containers"]


for w in workloads:
    name = f"{w['kind']}/{w['metadata']['name']}"
    labels = w["spec"]["template"]["metadata"].get("labels", {})
    selector = w["spec"].get("selector", {}).get("matchLabels", {})
    check(f"{name}: its selector matches its pods",
          bool(selector) and all(labels.get(k) == v for k, v in selector.items()))
    for c in containers(w):
        check(f"{name}: container {c.get('name')} has a name and an image",
              bool(c.get("name")) and bool(c.get("image")))
        for env in c.get("env", []):
            ref = env.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                data = {**secrets.get(ref["name"], {}).get("stringData", {}),
                        **secrets.get(ref["name"], {}).get("data", {})}
                check(f"{name}: Secret {ref['name']} has key {ref['key']}", ref["key"] in data)
    for v in w["spec"]["template"]["spec"].get("volumes", []):
        if "secret" in v:
            check(f"{name}: volume Secret {v['secret']['secretName']} exists",
                  v["secret"]["secretName"] in secrets)
        if "configMap" in v:
            check(f"{name}: volume ConfigMap {v['configMap']['name']} exists",
                  v["configMap"]["name"] in configmaps)

for s in by_kind.get("Service", []):
    name = f"Service/{s['metadata']['name']}"
    selected = [w for w in workloads
                if all(w["spec"]["template"]["metadata"].get("labels", {}).get(k) == v
                       for k, v in s["spec"].get("selector", {}).items())]
    check(f"{name} selects a workload", bool(s["spec"].get("selector")) and bool(selected))
    ports = {p.get("containerPort") for w in selected for c in containers(w)
             for p in c.get("ports", [])}
    for p in s["spec"].get("ports", []):
        check(f"{name}: port {p.get('port')} reaches a container port",
              p.get("targetPort", p.get("port")) in ports)

# funless's own pods: never root, no privilege, nothing written outside their volumes
for w in workloads:
    if not any(c.get("image", "").startswith("funless") for c in containers(w)):
        continue
    name = f"{w['kind']}/{w['metadata']['name']}"
    pod = w["spec"]["template"]["spec"].get("securityContext", {})
    check(f"{name}: runAsNonRoot with a non-zero runAsUser",
          pod.get("runAsNonRoot") is True and int(pod.get("runAsUser", 0)) > 0, str(pod))
    check(f"{name}: seccompProfile RuntimeDefault",
          pod.get("seccompProfile", {}).get("type") == "RuntimeDefault", str(pod))
    for c in containers(w):
        sc = c.get("securityContext", {})
        check(f"{name}: {c['name']} drops every capability",
              sc.get("capabilities", {}).get("drop") == ["ALL"]
              and not sc.get("capabilities", {}).get("add"), str(sc))
        check(f"{name}: {c['name']} has a read-only root and no privilege escalation",
              sc.get("readOnlyRootFilesystem") is True
              and sc.get("allowPrivilegeEscalation") is False and not sc.get("privileged"),
              str(sc))
        mounts = {m["mountPath"] for m in c.get("volumeMounts", [])}
        check(f"{name}: {c['name']} has a writable /tmp", "/tmp" in mounts, str(mounts))

headless = [s for s in by_kind.get("Service", []) if s["spec"].get("clusterIP") == "None"]
check("a headless Service for the Workers", len(headless) == 1)
core = [w for w in workloads if w["metadata"]["name"] == "funless-core"]
check("a Core Deployment", len(core) == 1 and core[0]["kind"] == "Deployment")
worker = [w for w in workloads if w["metadata"]["name"] == "funless-worker"]
check("a Worker DaemonSet", len(worker) == 1 and worker[0]["kind"] == "DaemonSet")
if core and headless:
    args = " ".join(containers(core[0])[0].get("args", []))
    m = re.search(r"dns:([^ :]+):(\d+)", args)
    h = headless[0]
    fqdn = f"{h['metadata']['name']}.{h['metadata']['namespace']}.svc.cluster.local"
    check("the Core discovers Workers through the headless Service's DNS",
          bool(m) and m.group(1) == fqdn, args)
    check("on a port the headless Service exposes",
          bool(m) and int(m.group(2)) in {p["port"] for p in h["spec"]["ports"]})
    check("the Core and the Workers share the cluster secret",
          all(any(v.get("secret", {}).get("secretName") == "funless-cluster"
                  for v in w["spec"]["template"]["spec"]["volumes"]) for w in core + worker))

# ---- Prometheus configurations ----
promtool = shutil.which("promtool")
with tempfile.TemporaryDirectory() as tmp:
    configs = [os.path.join(DEPLOY, "prometheus.yml"),
               os.path.join(DEPLOY, "docker", "prometheus-compose.yml")]
    for name, cm in configmaps.items():
        path = os.path.join(tmp, f"{name}.yml")
        open(path, "w").write(cm["data"]["prometheus.yml"])
        configs.append(path)
    for path in configs:
        if promtool:
            r = subprocess.run([promtool, "check", "config", "--syntax-only", path],
                               capture_output=True, text=True)
            check(f"promtool check config {os.path.basename(path)}", r.returncode == 0,
                  r.stdout + r.stderr)
        else:
            check("promtool is installed", False)

# ---- Docker ----
compose = yaml.safe_load(open(os.path.join(DEPLOY, "docker", "compose.yaml")))
check("compose: core, worker, db, prometheus",
      {"core", "worker", "db", "prometheus"} <= set(compose.get("services", {})))
for name, svc in compose.get("services", {}).items():
    check(f"compose: {name} has an image", bool(svc.get("image")))
for path in glob.glob(os.path.join(DEPLOY, "docker", "Dockerfile*")):
    lines = [l.strip() for l in open(path) if l.strip() and not l.startswith("#")]
    check(f"{os.path.basename(path)} starts FROM an image", lines and lines[0].startswith("FROM "))
    check(f"{os.path.basename(path)} says what to run",
          any(l.startswith(("CMD", "ENTRYPOINT")) for l in lines))
users = [l.split()[1] for l in
         (l.strip() for l in open(os.path.join(DEPLOY, "docker", "Dockerfile"))) if l.startswith("USER ")]
check("the image runs as a numeric non-root user",
      bool(users) and users[-1].split(":")[0].isdigit() and int(users[-1].split(":")[0]) > 0,
      str(users))
for path in glob.glob(os.path.join(DEPLOY, "docker", "Dockerfile.*")):
    check(f"{os.path.basename(path)} does not switch back to root",
          not any(l.strip().startswith("USER") and l.split()[1].split(":")[0] in ("root", "0")
                  for l in open(path)))

# ---- systemd ----
analyze = shutil.which("systemd-analyze")
with tempfile.TemporaryDirectory() as tmp:
    for path in glob.glob(os.path.join(DEPLOY, "systemd", "*.service")):
        unit = os.path.join(tmp, os.path.basename(path))
        # verify wants the binary to exist: point it at the one just built
        open(unit, "w").write(open(path).read().replace("/usr/local/bin/funless",
                                                        os.path.abspath(FUNLESS)))
        if analyze:
            r = subprocess.run([analyze, "verify", unit], capture_output=True, text=True)
            check(f"systemd-analyze verify {os.path.basename(path)}", r.returncode == 0,
                  r.stdout + r.stderr)
            r = subprocess.run([analyze, "security", "--offline=true", "--no-pager", unit],
                               capture_output=True, text=True)
            m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout)
            check(f"systemd-analyze security {os.path.basename(path)}: exposure at most 2.0",
                  bool(m) and float(m.group(1)) <= 2.0, (m.group(0) if m else r.stdout[-300:]))
        else:
            check("systemd-analyze is installed", False)
        text = open(path).read()
        for directive in ("User=funless", "NoNewPrivileges=yes", "ProtectSystem=strict",
                          "ReadWritePaths=", "PrivateTmp=yes", "ProtectHome=yes",
                          "RestrictAddressFamilies=", "CapabilityBoundingSet=\n",
                          "SystemCallFilter=@system-service"):
            check(f"{os.path.basename(path)} sets {directive.strip()}", directive in text)

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)

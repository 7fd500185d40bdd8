"""Build, start and remove the local lab hosts (systemd in podman containers).

    lab.py image                 build (once) and import the Debian 12 systemd image
    lab.py bake [TIER...]        bake the tier images (lab.yml `tiers`), or only those named
    lab.py up [--recreate] H...  start hosts H (names from lab/lab.yml); idempotent
    lab.py down [H...]           remove hosts H, or with no names everything the lab made
    lab.py clean                 down, then remove the images and cached tarballs too
    lab.py status                one line per lab host
    lab.py key                   print the path of the controller's lab SSH key

The facts behind the settings are in ../shared/lab/README.md (podman on this VM
needs runc, cgroupfs and lower rlimits; see lab/podman/). Hosts get the
controller's lab SSH key for root and use the package cache (lab/pkgcache.py)
on the network's gateway for apt. A host listed under a tier in lab.yml starts
from that tier's baked image (lab/bake.yml), which `up` bakes when it is missing;
with ULTRAAI_BAKE=0 every host starts from the bare lab image.
"""

import argparse
import concurrent.futures
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.environ.get("ULTRAAI_CACHE", "/var/cache/ultraai-platform")
LAB_CACHE = os.path.join(CACHE, "lab")
KEY = os.path.join(LAB_CACHE, "id_ed25519")
# Bump when the image customisation below changes in a way the recipe does not show.
IMAGE_BUILD_VERSION = "2"

ENV = dict(os.environ)
ENV.setdefault("CONTAINERS_CONF", os.path.join(HERE, "podman", "containers.conf"))
ENV.setdefault("CONTAINERS_STORAGE_CONF", os.path.join(HERE, "podman", "storage.conf"))


def log(msg):
    print("lab: %s" % msg, file=sys.stderr, flush=True)


def die(msg):
    log("error: %s" % msg)
    sys.exit(1)


def load_config():
    with open(os.path.join(HERE, "lab.yml")) as f:
        cfg = yaml.safe_load(f)
    tiers = cfg.get("tiers") or {}
    for tier, spec in tiers.items():
        unknown = [h for h in spec.get("hosts", []) if h not in cfg["hosts"]]
        if unknown or (spec.get("from") and spec["from"] not in tiers) or not spec.get("roles"):
            die("lab.yml: tier %s needs roles, known hosts (not %s) and a known `from` tier (not %s)"
                % (tier, ", ".join(unknown) or "-", spec.get("from") or "-"))
    return cfg


def run(cmd, check=True, capture=False, stdin=None, **kw):
    res = subprocess.run(cmd, env=ENV, check=False, text=True, input=stdin,
                         stdout=subprocess.PIPE if capture else None,
                         stderr=subprocess.PIPE if capture else None, **kw)
    if check and res.returncode != 0:
        detail = (res.stderr or "").strip() if capture else ""
        die("command failed (%s): %s %s" % (res.returncode, " ".join(cmd), detail))
    return res


def podman(*args, **kw):
    return run(["podman"] + list(args), **kw)


def port_open(host, port, timeout=0.5):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


# --- package cache ----------------------------------------------------------

def ensure_pkgcache(cfg):
    port = cfg["pkgcache_port"]
    if port_open("127.0.0.1", port):
        return
    os.makedirs(LAB_CACHE, exist_ok=True)
    logf = open(os.path.join(LAB_CACHE, "pkgcache.log"), "ab")
    subprocess.Popen(
        [sys.executable, os.path.join(HERE, "pkgcache.py"), "--port", str(port),
         "--bind", "127.0.0.1", "--bind", cfg["network"]["gateway"],
         "--cache-dir", os.path.join(CACHE, "pkgcache")],
        stdout=logf, stderr=logf, stdin=subprocess.DEVNULL, start_new_session=True)
    for dummy in range(50):
        if port_open("127.0.0.1", port):
            log("package cache listening on port %d" % port)
            return
        time.sleep(0.1)
    die("package cache did not start; see %s/pkgcache.log" % LAB_CACHE)


def stop_pkgcache(cfg):
    res = run(["pkill", "-f", os.path.join(HERE, "pkgcache.py")], check=False, capture=True)
    if res.returncode == 0:
        log("package cache stopped")


# --- image ------------------------------------------------------------------

def image_tag(cfg):
    recipe = json.dumps(cfg["image"], sort_keys=True) + IMAGE_BUILD_VERSION
    return "%s:%s" % (cfg["image"]["name"], hashlib.sha256(recipe.encode()).hexdigest()[:12])


def customise_rootfs(root, img):
    """Make a debootstrapped tree into a host that boots under podman."""
    def write(path, text, mode=0o644):
        full = os.path.join(root, path.lstrip("/"))
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(text)
        os.chmod(full, mode)

    suite = img["suite"]
    write("/etc/apt/sources.list",
          "deb %s %s main\ndeb %s %s-updates main\ndeb %s %s-security main\n"
          % (img["mirror"], suite, img["mirror"], suite, img["security_mirror"], suite))
    # Each host makes its own identity on first boot.
    write("/etc/machine-id", "")
    for name in os.listdir(os.path.join(root, "etc/ssh")):
        if name.startswith("ssh_host_"):
            os.unlink(os.path.join(root, "etc/ssh", name))
    write("/etc/systemd/system/ssh.service.d/lab-hostkeys.conf",
          "[Service]\nExecStartPre=\nExecStartPre=/usr/bin/ssh-keygen -A\n"
          "ExecStartPre=/usr/sbin/sshd -t\n")
    # Empty apt lists with an old mtime, so `cache_valid_time` always updates.
    lists = os.path.join(root, "var/lib/apt/lists")
    shutil.rmtree(lists, ignore_errors=True)
    os.makedirs(os.path.join(lists, "partial"))
    for path in (os.path.join(lists, "partial"), lists):
        os.utime(path, (946684800, 946684800))
    shutil.rmtree(os.path.join(root, "var/cache/apt/archives"), ignore_errors=True)
    for name in ("pkgcache.bin", "srcpkgcache.bin"):  # apt's binary cache of the old lists
        if os.path.exists(os.path.join(root, "var/cache/apt", name)):
            os.unlink(os.path.join(root, "var/cache/apt", name))
    os.makedirs(os.path.join(root, "var/cache/apt/archives/partial"))
    # Units that cannot work in a container and only make the host "degraded".
    for unit in ("systemd-remount-fs.service", "getty@tty1.service",
                 "console-getty.service", "systemd-firstboot.service"):
        link = os.path.join(root, "etc/systemd/system", unit)
        if not os.path.lexists(link):
            os.symlink("/dev/null", link)


def ensure_image(cfg):
    tag = image_tag(cfg)
    if podman("image", "exists", tag, check=False).returncode == 0:
        return tag
    img = cfg["image"]
    os.makedirs(LAB_CACHE, exist_ok=True)
    tarball = os.path.join(LAB_CACHE, "image-%s.tar.gz" % tag.split(":")[1])
    if not os.path.exists(tarball):
        if not shutil.which("debootstrap"):
            die("debootstrap is missing: run scripts/bootstrap.sh first")
        ensure_pkgcache(cfg)
        log("building %s with debootstrap (about a minute)" % tag)
        root = tempfile.mkdtemp(prefix="rootfs-", dir=LAB_CACHE)
        try:
            env = dict(ENV, http_proxy="http://127.0.0.1:%d" % cfg["pkgcache_port"])
            res = subprocess.run(
                ["debootstrap", "--variant=minbase", "--include=" + ",".join(img["packages"]),
                 img["suite"], root, img["mirror"]], env=env, stdout=subprocess.DEVNULL, check=False)
            if res.returncode != 0:
                die("debootstrap failed; see %s/debootstrap/debootstrap.log" % root)
            customise_rootfs(root, img)
            tmp = tarball + ".part"
            run(["tar", "-C", root, "--numeric-owner", "-czf", tmp, "."])
            os.replace(tmp, tarball)
        finally:
            shutil.rmtree(root, ignore_errors=True)
    log("importing %s" % tag)
    podman("import", "--change", 'CMD ["/sbin/init"]', "--change", "ENV container=podman",
           "--change", "STOPSIGNAL SIGRTMIN+3", tarball, tag, capture=True)
    return tag


# --- baked tier images -------------------------------------------------------

ROOT = os.path.dirname(HERE)


def tier_inputs(cfg, tier):
    """The files whose content a tier's image depends on, relative to the checkout."""
    files = ["lab/lab.yml", "lab/bake.yml"]
    group_vars = os.path.join(ROOT, "inventories", "local", "group_vars")
    for top, dummy, names in os.walk(group_vars):
        files += [os.path.relpath(os.path.join(top, n), ROOT) for n in names]
    for role in cfg["tiers"][tier]["roles"]:
        files += ["roles/%s/%s" % (role, f) for f in ("tasks/install.yml", "tasks/preflight.yml", "defaults/main.yml",
                                                      "vars/main.yml", "meta/argument_specs.yml")]
    return sorted(f for f in files if os.path.isfile(os.path.join(ROOT, f)))


def tier_tag(cfg, tier, base_tag):
    digest = hashlib.sha256(("%s\n%s\n" % (base_tag, tier)).encode())
    for rel in tier_inputs(cfg, tier):
        with open(os.path.join(ROOT, rel), "rb") as fh:
            digest.update(rel.encode() + b"\0" + fh.read() + b"\0")
    return "%s-%s:%s" % (cfg["image"]["name"], tier, digest.hexdigest()[:12])


def tier_of(cfg, name):
    """The tier whose baked image host NAME starts from; None for the bare lab
    image, and for every host when ULTRAAI_BAKE=0 (a whole scenario from scratch)."""
    if os.environ.get("ULTRAAI_BAKE", "1") == "0":
        return None
    for tier, spec in (cfg.get("tiers") or {}).items():
        if name in spec.get("hosts", []):
            return tier
    return None


def ensure_tier_image(cfg, tier, base_tag):
    """Bake a tier's image when no image has its tag: start a host from the lab
    image (or the image of the tier it is `from`) at bake_address, run lab/bake.yml (the roles' preflight and install
    entry points) on it, stop it and commit it. Call with the shared lock held."""
    spec, ip = cfg["tiers"][tier], cfg["bake_address"]
    if spec.get("from"):  # baked on top of another tier's image
        base_tag = ensure_tier_image(cfg, spec["from"], base_tag)
    tag = tier_tag(cfg, tier, base_tag)
    if podman("image", "exists", tag, check=False).returncode == 0:
        return tag
    cname = cfg["container_prefix"] + "bake"
    log("baking %s: %s on a fresh host" % (tag, ", ".join(spec["roles"])))
    started = time.time()
    podman("rm", "-f", "-t", "2", cname, capture=True, check=False)
    drop_ssh_connections(ip)
    workdir = tempfile.mkdtemp(prefix="bake-", dir=LAB_CACHE)
    try:
        start_container(cfg, cname, "lab-bake", ip, base_tag)
        wait_pkgcache_on_gateway(cfg)
        prepare_host(cfg, cname, ip)
        # The bake host alone, in the tier's groups, with the local inventory's
        # group_vars (the settings the lab's hosts get) and the tier's own vars.
        inventory = os.path.join(workdir, "inventory")
        os.makedirs(inventory)
        os.symlink(os.path.join(ROOT, "inventories", "local", "group_vars"), os.path.join(inventory, "group_vars"))
        groups = {"lab_bake": {"hosts": {"lab-bake": {"ansible_host": ip}}}}
        groups.update({g: {"hosts": {"lab-bake": None}} for g in spec["groups"]})
        with open(os.path.join(inventory, "hosts.yml"), "w") as fh:
            yaml.safe_dump({"all": {"children": groups}}, fh)
        extra = dict(spec.get("vars") or {}, lab_bake_roles=spec["roles"], ansible_ssh_private_key_file=KEY)
        argv = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", inventory,
                "-e", json.dumps(extra), os.path.join(HERE, "bake.yml")]
        logpath = os.path.join(LAB_CACHE, "bake-%s.log" % tier)
        with open(logpath, "w") as logf:
            res = subprocess.run(argv, cwd=ROOT, env=dict(ENV, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg")),
                                 stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=False)
        if res.returncode != 0:
            with open(logpath, errors="replace") as logf:
                tail = "".join(logf.readlines()[-40:])
            die("baking the %s tier failed (the install entry points of %s); the end of %s:\n%s"
                % (tier, ", ".join(spec["roles"]), logpath, tail))
        podman("stop", "-t", "30", cname, capture=True)
        podman("commit", "--quiet", cname, tag, capture=True)
    finally:
        podman("rm", "-f", "-t", "2", cname, capture=True, check=False)
        drop_ssh_connections(ip)
        shutil.rmtree(workdir, ignore_errors=True)
    log("baked %s in %d s" % (tag, time.time() - started))
    prune_tier_images(tag)
    return tag


def prune_tier_images(tag):
    """Remove the earlier images of TAG's tier: a tier keeps the image of its
    current inputs only (each is 400-700 MB). One a container still runs, or that
    another image is built on, stays (podman refuses; a later bake removes it)."""
    repo, keep = tag.rsplit(":", 1)
    res = podman("images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", "reference=%s" % repo,
                 capture=True, check=False)
    for old in sorted(set(res.stdout.split())):
        name, old_tag = old.rsplit(":", 1)
        if old_tag != keep and name.split("/")[-1] == repo.split("/")[-1]:
            podman("rmi", old, capture=True, check=False)


def bake(cfg, tiers):
    unknown = [t for t in tiers if t not in (cfg.get("tiers") or {})]
    if unknown:
        die("unknown tier(s) %s; known: %s" % (", ".join(unknown), ", ".join(cfg.get("tiers") or {})))
    with shared_lock():
        ensure_key()
        base_tag = ensure_image(cfg)
        ensure_network(cfg)
        ensure_pkgcache(cfg)
        for tier in tiers or list(cfg.get("tiers") or {}):
            print(ensure_tier_image(cfg, tier, base_tag))


# --- hosts ------------------------------------------------------------------

def ensure_key():
    if not os.path.exists(KEY):
        os.makedirs(LAB_CACHE, exist_ok=True)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ultraai-lab", "-f", KEY])
    return KEY


def ensure_network(cfg):
    net = cfg["network"]
    if podman("network", "exists", net["name"], check=False).returncode != 0:
        podman("network", "create", "--subnet", net["subnet"], "--gateway", net["gateway"],
               net["name"], capture=True)


def container_state(cname):
    res = podman("inspect", "--format", "{{.State.Running}} {{.ImageName}}", cname,
                 check=False, capture=True)
    if res.returncode != 0:
        return None
    running, image = res.stdout.split()
    return running == "true", image


def wait_ready(cname, ip, deadline):
    while time.time() < deadline:
        res = podman("exec", cname, "systemctl", "is-system-running", "--wait",
                     check=False, capture=True)
        if res.stdout.strip() in ("running", "degraded"):
            break
        time.sleep(0.5)
    else:
        die("%s did not finish booting" % cname)
    while time.time() < deadline:
        if port_open(ip, 22):
            return
        time.sleep(0.2)
    die("%s: ssh on %s:22 did not come up" % (cname, ip))


def wait_pkgcache_on_gateway(cfg):
    """The cache listens on the gateway once the bridge exists (with the first container)."""
    deadline = time.time() + 30
    while not port_open(cfg["network"]["gateway"], cfg["pkgcache_port"]):
        if time.time() > deadline:
            die("package cache is not reachable on the lab gateway")
        time.sleep(0.2)


def start_container(cfg, cname, hostname, ip, tag):
    cmd = ["run", "-d", "--name", cname, "--hostname", hostname, "--label", "ultraai.lab=1",
           "--network", cfg["network"]["name"], "--ip", ip, "--network-alias", hostname, "--systemd", "always"]
    for cap in cfg["image"]["capabilities"]:
        cmd += ["--cap-add", cap]
    podman(*(cmd + [tag]), capture=True)


def prepare_host(cfg, cname, ip):
    pub = open(KEY + ".pub").read()
    podman("exec", "-i", cname, "sh", "-c",
           "install -d -m 700 /root/.ssh && cat > /root/.ssh/authorized_keys"
           " && chmod 600 /root/.ssh/authorized_keys", stdin=pub)
    proxy = 'Acquire::http::Proxy "http://%s:%d";\n' % (cfg["network"]["gateway"], cfg["pkgcache_port"])
    podman("exec", "-i", cname, "sh", "-c",
           "cat > /etc/apt/apt.conf.d/01ultraai-lab-proxy", stdin=proxy)
    wait_ready(cname, ip, time.time() + 90)


@contextlib.contextmanager
def shared_lock():
    """Serialise the parts every scenario shares (key, image, network, package
    cache): the suite runs scenarios with disjoint hosts side by side."""
    os.makedirs(LAB_CACHE, exist_ok=True)
    with open(os.path.join(LAB_CACHE, "lab.lock"), "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def up(cfg, names, recreate):
    unknown = [n for n in names if n not in cfg["hosts"]]
    if unknown:
        die("unknown lab host(s) %s; known: %s" % (", ".join(unknown), ", ".join(cfg["hosts"])))
    with shared_lock():
        ensure_key()
        base_tag = ensure_image(cfg)
        ensure_network(cfg)
        ensure_pkgcache(cfg)
        tags = {}
        for name in names:
            tier = tier_of(cfg, name)
            tags[name] = ensure_tier_image(cfg, tier, base_tag) if tier else base_tag
    started = []
    for name in names:
        cname = cfg["container_prefix"] + name
        state = container_state(cname)
        if state and state[0] and state[1] == tags[name] and not recreate:
            continue
        # Also clears a container left half-removed by an interrupted run,
        # which inspect no longer reports.
        podman("rm", "-f", "-t", "2", cname, capture=True, check=False)
        drop_ssh_connections(cfg["hosts"][name])
        start_container(cfg, cname, name, cfg["hosts"][name], tags[name])
        started.append(name)
    if started:
        wait_pkgcache_on_gateway(cfg)
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(prepare_host, cfg, cfg["container_prefix"] + n, cfg["hosts"][n])
                   for n in started]
        for fut in futures:
            fut.result()
    log("up: %s (started: %s)" % (" ".join(names), " ".join(started) or "none"))


def drop_ssh_connections(ip):
    """End the controller's SSH connections to a host that is going away.

    Ansible keeps SSH control masters for a while (ControlPersist). A host
    recreated at the same address would otherwise be reached through a master
    whose peer no longer exists ("Data could not be sent to remote host").
    """
    res = run(["ss", "-Htnp", "dst", "%s:22" % ip], check=False, capture=True)
    pids = {int(m) for m in re.findall(r"pid=(\d+)", res.stdout or "")}
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass


def lab_containers(cfg):
    res = podman("ps", "-a", "--filter", "label=ultraai.lab=1", "--format", "{{.Names}}", capture=True)
    return res.stdout.split()


def down(cfg, names):
    if names:
        cnames = [cfg["container_prefix"] + n for n in names]
    else:
        cnames = lab_containers(cfg)
    existing = set(lab_containers(cfg))
    doomed = [c for c in cnames if c in existing]
    if doomed:
        # podman can lose a race with a container that stops on its own while it
        # escalates to SIGKILL ("container state improper: stopped"), or return
        # while a container is still being torn down beside other scenarios'
        # podman calls, and leave it behind: remove what is left again, for up
        # to two minutes; fail only if it stays, saying in which state.
        left, deadline, attempt = doomed, time.time() + 120, 0
        while True:
            res = podman("rm", "-f", "-t", "2", *left, capture=True, check=False)
            left = sorted(set(doomed) & set(lab_containers(cfg)))
            if not left:
                break
            if time.time() > deadline:
                states = podman("ps", "-a", "--filter", "label=ultraai.lab=1", "--format",
                                "{{.Names}}={{.State}}", capture=True, check=False).stdout.split()
                die("could not remove %s (states: %s): %s" % (
                    " ".join(left), " ".join(st for st in states if st.split("=")[0] in left) or "unknown",
                    (res.stderr or "").strip() or "podman rm gave no error"))
            attempt += 1
            time.sleep(min(2 * attempt, 10))
        prefix = cfg["container_prefix"]
        for cname in doomed:
            if cname[len(prefix):] in cfg["hosts"]:
                drop_ssh_connections(cfg["hosts"][cname[len(prefix):]])
    if not names:
        if podman("network", "exists", cfg["network"]["name"], check=False).returncode == 0:
            podman("network", "rm", "-f", cfg["network"]["name"], capture=True)
        stop_pkgcache(cfg)
    log("down: removed %s" % (" ".join(doomed) or "nothing"))


def clean(cfg):
    down(cfg, [])
    res = podman("images", "--format", "{{.Repository}}:{{.Tag}}", capture=True)
    prefix = cfg["image"]["name"]
    for tag in res.stdout.split():
        if tag.startswith(prefix + ":") or tag.startswith(prefix + "-"):
            podman("rmi", "-f", tag, capture=True)
    shutil.rmtree(LAB_CACHE, ignore_errors=True)
    log("clean: images and %s removed (the package cache is kept)" % LAB_CACHE)


def status(cfg):
    for name, ip in cfg["hosts"].items():
        state = container_state(cfg["container_prefix"] + name)
        print("%-8s %-12s %s" % (name, ip, "running" if state and state[0] else
                                 ("stopped" if state else "absent")))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("image")
    p_bake = sub.add_parser("bake")
    p_bake.add_argument("tiers", nargs="*")
    p_up = sub.add_parser("up")
    p_up.add_argument("--recreate", action="store_true", help="replace running hosts with fresh ones")
    p_up.add_argument("hosts", nargs="+")
    p_down = sub.add_parser("down")
    p_down.add_argument("hosts", nargs="*")
    sub.add_parser("clean")
    sub.add_parser("status")
    sub.add_parser("key")
    args = parser.parse_args()
    # Hosts inherit this process's CPU mask through podman; a parent that pinned
    # itself (Mitogen's stock strategy pins to one CPU of two, see lab/strategy)
    # would keep the whole lab on one core.
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, range(os.cpu_count()))
    cfg = load_config()
    if args.cmd == "image":
        print(ensure_image(cfg))
    elif args.cmd == "bake":
        bake(cfg, args.tiers)
    elif args.cmd == "up":
        up(cfg, args.hosts, args.recreate)
    elif args.cmd == "down":
        down(cfg, args.hosts)
    elif args.cmd == "clean":
        clean(cfg)
    elif args.cmd == "status":
        status(cfg)
    elif args.cmd == "key":
        print(ensure_key())


if __name__ == "__main__":
    main()

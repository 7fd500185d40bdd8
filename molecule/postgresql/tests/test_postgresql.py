"""Verify the postgresql role: the server on svc1, seen from itself, from an
allowed app host (client1) and from a host that is not allowed (client2)."""

import os

import yaml

# client1 and client2 are fixtures (labtest): test arguments of the same name are them.
# pylint: disable=redefined-outer-name
from labtest import client1, client2, firewall_admits_only  # noqa: F401  pylint: disable=unused-import

SCENARIO = os.environ["MOLECULE_SCENARIO_DIRECTORY"]
with open(os.path.join(SCENARIO, "vars", "test_secrets.yml")) as f:
    PASSWORD = yaml.safe_load(f)["postgresql_db_password"]

SERVER = "10.77.0.50"
PORT = 5432
DB = USER = "ultraai"

testinfra_hosts = ["svc1"]


def psql(client, sql, password=PASSWORD, sslmode="require", user=USER):
    conninfo = "host=%s port=%d dbname=%s user=%s sslmode=%s connect_timeout=5" % (SERVER, PORT, DB, user, sslmode)
    return client.run("PGPASSWORD=%s psql -X -At -v ON_ERROR_STOP=1 %s -c %s",
                      password, conninfo, sql)


def local_sql(host, sql):
    return host.check_output("runuser -u postgres -- psql -X -At -c %s", sql)


def test_server_running_and_enabled(host):
    assert host.service("postgresql@15-main").is_running
    assert host.service("postgresql").is_enabled


def test_listens_on_localhost_and_private_address_only(host):
    assert host.socket("tcp://127.0.0.1:%d" % PORT).is_listening
    assert host.socket("tcp://%s:%d" % (SERVER, PORT)).is_listening
    assert not host.socket("tcp://0.0.0.0:%d" % PORT).is_listening
    assert local_sql(host, "SHOW listen_addresses") == "localhost,%s" % SERVER


def test_tls_key_and_certificate(host):
    key = host.file("/etc/postgresql/ssl/server.key")
    assert key.user == "postgres" and key.group == "postgres" and key.mode == 0o600
    cert = host.file("/etc/postgresql/ssl/server.crt")
    assert cert.user == "postgres" and cert.exists
    text = host.check_output("openssl x509 -in /etc/postgresql/ssl/server.crt -noout -text")
    assert "IP Address:%s" % SERVER in text
    assert local_sql(host, "SHOW ssl") == "on"
    assert local_sql(host, "SHOW ssl_min_protocol_version") == "TLSv1.2"
    assert local_sql(host, "SHOW ssl_cert_file") == "/etc/postgresql/ssl/server.crt"


def test_password_stored_as_scram(host):
    verifier = local_sql(host, "SELECT rolpassword FROM pg_authid WHERE rolname = '%s'" % USER)
    assert verifier.startswith("SCRAM-SHA-256$")
    assert local_sql(host, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '%s'" % DB) == USER
    flags = local_sql(host, "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = '%s'" % USER)
    assert flags == "f|f|f"


def test_data_checksums_on(host):
    assert local_sql(host, "SHOW data_checksums") == "on"


def test_pg_hba_has_only_expected_network_lines(host):
    rules = local_sql(host, "SELECT type, database, user_name, address, netmask, auth_method "
                            "FROM pg_hba_file_rules WHERE type LIKE 'host%' ORDER BY line_number")
    lines = rules.splitlines()
    assert "hostssl|{%s}|{%s}|10.77.0.51|255.255.255.255|scram-sha-256" % (DB, USER) in lines
    network = [line for line in lines if "|127.0.0.1|" not in line and "|::1|" not in line]
    assert network == [
        "hostssl|{%s}|{%s}|10.77.0.51|255.255.255.255|scram-sha-256" % (DB, USER),
        "hostssl|{replication}|{replicator}|10.77.0.99|255.255.255.255|scram-sha-256",
        "host|{all}|{all}|0.0.0.0|0.0.0.0|reject",
        "host|{all}|{all}|::|::|reject",
    ]


def test_extra_hba_lines_and_their_firewall_opening(host):
    rules = local_sql(host, "SELECT type, database, user_name, auth_method FROM pg_hba_file_rules "
                            "WHERE type = 'local' ORDER BY line_number").splitlines()
    assert "local|{postgres}|{prometheus}|peer" in rules, rules
    ruleset = host.check_output("nft list ruleset")
    assert "10.77.0.99" in ruleset, "the hba_extra network address is not let through the firewall"


def test_allowed_client_connects_over_tls(client1):
    res = psql(client1, "SELECT current_user, ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
    assert res.rc == 0, res.stderr
    user, ssl, version = res.stdout.strip().split("|")
    assert (user, ssl) == (USER, "t")
    assert version in ("TLSv1.2", "TLSv1.3")
    show = psql(client1, "SHOW ssl")
    assert show.stdout.strip() == "on"


def test_allowed_client_can_create_tables(client1):
    res = psql(client1, "CREATE TABLE IF NOT EXISTS molecule_probe (id int); DROP TABLE molecule_probe")
    assert res.rc == 0, res.stderr


def test_clear_text_connection_rejected_by_pg_hba(client1):
    res = psql(client1, "SELECT 1", sslmode="disable")
    assert res.rc != 0
    assert "pg_hba.conf rejects connection" in res.stderr and "no encryption" in res.stderr, res.stderr


def test_wrong_password_rejected(client1):
    res = psql(client1, "SELECT 1", password="not-the-password")
    assert res.rc != 0
    assert 'password authentication failed for user "%s"' % USER in res.stderr, res.stderr


def test_other_roles_rejected_from_the_network(client1):
    res = psql(client1, "SELECT 1", user="postgres")
    assert res.rc != 0
    assert "pg_hba.conf rejects connection" in res.stderr, res.stderr


def test_firewall_admits_the_app_host_and_drops_other_hosts(client1, client2):
    firewall_admits_only(client1, client2, SERVER, PORT)


def test_memory_tuning(host):
    memtotal_mb = host.ansible("setup", "gather_subset=hardware")["ansible_facts"]["ansible_memtotal_mb"]
    settings = dict(line.split("|") for line in local_sql(
        host, "SELECT name, setting FROM pg_settings WHERE name IN "
              "('shared_buffers', 'effective_cache_size', 'maintenance_work_mem', 'work_mem', 'max_connections')"
    ).splitlines())
    shared_mb = max(128, memtotal_mb * 25 // 100)
    assert int(settings["shared_buffers"]) * 8 // 1024 == shared_mb  # 8kB pages
    assert int(settings["effective_cache_size"]) * 8 // 1024 == max(128, memtotal_mb * 75 // 100)
    assert int(settings["maintenance_work_mem"]) // 1024 == max(64, min(2048, memtotal_mb // 16))  # kB
    assert int(settings["work_mem"]) // 1024 == max(4, (memtotal_mb - shared_mb) // (100 * 3))  # kB
    assert settings["max_connections"] == "100"


def test_no_restart_pending(host):
    assert local_sql(host, "SELECT count(*) FROM pg_settings WHERE pending_restart") == "0"

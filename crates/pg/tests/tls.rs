//! The PostgreSQL store over TLS, against a real server with `ssl = on` whose TCP port
//! admits TLS connections only (`hostssl`), its certificate (for `localhost`) signed by
//! a CA made here: `sslmode=verify-full` with that CA connects and writes, encrypted (the
//! server's own `pg_stat_ssl` says so), in both URL forms; `require` connects without
//! verifying; `disable`, an unknown CA and a host name the certificate lacks are refused.

use tether_pg::testing::Postgres;
use tether_pg::{PgOptions, PgStore};
use tether_store::{Kind, Record, RunStore};
use ulid::Ulid;

/// A CA (its PEM written to `dir/ca.pem`), and a `localhost` certificate and key it signed.
fn pki(dir: &std::path::Path) -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "tether test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_owned()]).unwrap().signed_by(&key, &issuer).unwrap();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca_cert.pem()).unwrap();
    (ca_file.to_str().unwrap().to_owned(), cert.pem(), key.serialize_pem())
}

fn started(run: Ulid) -> Record {
    let payload = format!(r#"{{"record":"started","run_id":"{run}","agent_id":"agent-1"}}"#).into_bytes();
    Record { kind: Kind::Started, run_id: run, seq: 0, payload }
}

async fn open(url: &str, node: &str) -> Result<PgStore, String> {
    PgStore::open(PgOptions::new(url, node)).await.map(|(store, _)| store).map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_reaches_postgres_over_tls_verifying_it_with_verify_full() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = pki(dir.path());
    let pg = Postgres::start_tls(&cert, &key).expect("a PostgreSQL server (see README, Testing)");
    pg.create_database("tether").unwrap();
    let port = pg.port();
    let kv = |host: &str, tls: &str| format!("host={host} port={port} user=postgres dbname=tether {tls}");

    // verify-full with the CA: it connects, writes and reads back.
    let store = open(&kv("localhost", &format!("sslmode=verify-full sslrootcert={ca}")), "tls-a").await.unwrap();
    let run = Ulid::new();
    store.append(&[started(run)]).await.unwrap();
    assert_eq!(store.read(run, 0..1).await.unwrap().len(), 1);
    // The server's view: this database's client connections are TLS, and none is not.
    let tls_connections = |ssl: bool| {
        let sql = format!(
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.datname = 'tether' AND a.client_port IS NOT NULL AND s.ssl = {ssl}"
        );
        pg.psql("postgres", &sql).unwrap().parse::<u32>().unwrap()
    };
    assert!(tls_connections(true) >= 1, "no TLS connection seen by the server");
    assert_eq!(tls_connections(false), 0);
    drop(store);

    // The URL form, with the options percent-encoded.
    let encoded = ca.replace('/', "%2F");
    let url = format!("postgres://postgres@localhost:{port}/tether?sslmode=verify-full&sslrootcert={encoded}");
    open(&url, "tls-b").await.unwrap();

    // require: encrypted, the certificate not checked (libpq's meaning).
    open(&kv("localhost", "sslmode=require"), "tls-c").await.unwrap();

    // Refused: plain TCP (no pg_hba entry admits it), the platform's roots (which do not
    // know this CA), and a name the certificate does not carry.
    let plain = open(&kv("localhost", "sslmode=disable"), "tls-d").await.err().expect("refused");
    assert!(plain.contains("pg_hba.conf") && plain.contains("no encryption"), "{plain}");
    let unknown = open(&kv("localhost", "sslmode=verify-full"), "tls-e").await.err().expect("refused");
    assert!(unknown.to_lowercase().contains("certificate"), "{unknown}");
    let by_ip =
        open(&kv("127.0.0.1", &format!("sslmode=verify-full sslrootcert={ca}")), "tls-f").await.err().expect("refused");
    assert!(by_ip.to_lowercase().contains("certificate"), "{by_ip}");
}

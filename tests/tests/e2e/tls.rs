//! `JOBS_TLS_ROOTS=system` against a real TLS endpoint: a certificate from a CA
//! that only the machine's trust settings (here `SSL_CERT_FILE`) know.

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use anyhow::{Context as _, Result, bail};
use integration_tests::{MAIL_ARGS, unique_suffix, workspace_binary};

/// Answers every request as SQS answers for a queue that does not exist: an
/// answer only a client that finished the TLS handshake can get.
const SERVER: &str = r#"
import http.server, ssl, sys
class Answer(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        body = b'{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"The specified queue does not exist."}'
        self.send_response(400)
        self.send_header("x-amzn-query-error", "AWS.SimpleQueueService.NonExistentQueue;Sender")
        self.send_header("content-type", "application/x-amz-json-1.0")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        print("answered", flush=True)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[1], sys.argv[2])
server.socket = context.wrap_socket(server.socket, server_side=True)
print("port", server.server_address[1], flush=True)
server.serve_forever()
"#;

fn openssl(dir: &Path, args: &[&str]) -> Result<()> {
    let output = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .context("running `openssl`")?;
    if !output.status.success() {
        bail!(
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// A test CA (`ca.pem`) and a certificate for 127.0.0.1 it signed
/// (`server.pem`, `server.key`).
fn certificates(dir: &Path) -> Result<()> {
    let key = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let ca = [
        &["req", "-x509"][..],
        &key,
        &["-keyout", "ca.key", "-out", "ca.pem"],
    ];
    openssl(
        dir,
        &[
            &ca.concat()[..],
            &["-days", "2", "-subj", "/CN=jobs test CA"],
        ]
        .concat(),
    )?;
    let request = [
        &["req"][..],
        &key,
        &["-keyout", "server.key", "-out", "server.csr"],
    ];
    openssl(
        dir,
        &[&request.concat()[..], &["-subj", "/CN=127.0.0.1"]].concat(),
    )?;
    std::fs::write(
        dir.join("server.ext"),
        "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\n",
    )?;
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ],
    )
}

#[test]
fn system_roots_reach_an_endpoint_only_the_machine_trusts() -> Result<()> {
    let dir = std::env::temp_dir().join(format!("jobs-tls-{}", unique_suffix()));
    std::fs::create_dir_all(&dir)?;
    certificates(&dir)?;
    let mut server = Command::new("python3")
        .args(["-c", SERVER])
        .arg(dir.join("server.pem"))
        .arg(dir.join("server.key"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("starting the TLS server (python3)")?;
    let mut said = BufReader::new(server.stdout.take().context("piped")?);
    let mut first = String::new();
    said.read_line(&mut first)?;
    let port = first
        .strip_prefix("port ")
        .map(str::trim)
        .with_context(|| format!("the TLS server said `{first}`"))?;
    let endpoint = format!("https://127.0.0.1:{port}");

    let enqueue = |roots: Option<&str>| -> Result<Output> {
        let mut command = Command::new(workspace_binary("jobs")?);
        command
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL", &endpoint)
            .env("SSL_CERT_FILE", dir.join("ca.pem"))
            .env_remove("SSL_CERT_DIR")
            .env_remove("JOBS_TLS_ROOTS")
            .arg("enqueue")
            .args(MAIL_ARGS)
            .args(["--from", "shop@example.com"])
            .args([
                "--queue-url",
                &format!("{endpoint}/000000000000/no-such-queue"),
            ]);
        if let Some(roots) = roots {
            command.env("JOBS_TLS_ROOTS", roots);
        }
        Ok(command.output()?)
    };
    let amazon_only = enqueue(None)?;
    let with_system = enqueue(Some("system"))?;

    server.kill()?;
    server.wait()?;
    let mut rest = String::new();
    said.read_to_string(&mut rest)?;
    std::fs::remove_dir_all(&dir).ok();

    // Amazon's roots alone refuse the test CA's certificate: no request is made.
    let refused = String::from_utf8_lossy(&amazon_only.stderr);
    assert_eq!(amazon_only.status.code(), Some(1), "{refused}");
    assert!(refused.contains("certificate not trusted: "), "{refused}");
    assert!(refused.contains("invalid peer certificate"), "{refused}");
    assert!(
        refused.contains("`JOBS_TLS_ROOTS=system`"),
        "the way out: {refused}"
    );
    // With the machine's roots the handshake succeeds and SQS's answer comes back.
    let answered = String::from_utf8_lossy(&with_system.stderr);
    assert_eq!(with_system.status.code(), Some(1), "{answered}");
    assert!(answered.contains("not found: "), "{answered}");
    assert!(answered.contains("JOBS_QUEUE_URL"), "{answered}");
    assert_eq!(
        rest.matches("answered").count(),
        1,
        "one request answered: {rest}"
    );
    Ok(())
}

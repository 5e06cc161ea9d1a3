"""A throwaway PKI made with the openssl command: a CA, and certificates it signs for servers
and clients, with the names given as subjectAltName."""
import pathlib
import subprocess


def _run(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


class Pki:
    def __init__(self, directory):
        self.dir = pathlib.Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ca_key = self.dir / "ca.key"
        self.ca_cert = self.dir / "ca.pem"
        _run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-days", "2", "-subj", "/CN=Upesi Test CA", "-keyout", str(self.ca_key),
             "-out", str(self.ca_cert), cwd=self.dir)

    def issue(self, name, dns_names, client=False):
        """(key_path, cert_path) for CN=name with the given subjectAltNames (DNS names, or IPv4
        addresses as IP entries)."""
        key = self.dir / (name + ".key")
        csr = self.dir / (name + ".csr")
        cert = self.dir / (name + ".pem")
        ext = self.dir / (name + ".ext")
        usage = "clientAuth" if client else "serverAuth"
        sans = ",".join(("IP:" if n.replace(".", "").isdigit() else "DNS:") + n
                        for n in dns_names)
        ext.write_text("subjectAltName=%s\nextendedKeyUsage=%s\n" % (sans, usage) if sans
                       else "extendedKeyUsage=%s\n" % usage)
        _run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" + name, "-keyout", str(key),
             "-out", str(csr), cwd=self.dir)
        _run("x509", "-req", "-in", str(csr), "-CA", str(self.ca_cert), "-CAkey",
             str(self.ca_key), "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out",
             str(cert), cwd=self.dir)
        return key, cert

    def bundle(self, name, dns_names):
        """One PEM holding key and certificate (the config/tls/ form)."""
        key, cert = self.issue(name, dns_names)
        return key.read_text() + cert.read_text()

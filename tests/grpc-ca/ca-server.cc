// SPDX-License-Identifier: Apache-2.0
// grpc-ca-server: a test Istio CA on the canonical gRPC C++ library (grpc++
// and protobuf from Debian), so that meshboot's hand-written client
// (src/istioca.c) is checked against a real gRPC implementation, not only
// against tests/ca-server.js, whose framing is written by hand too.
//
//   grpc-ca-server --port-file FILE --cert PEM --key PEM --ca-cert PEM
//                  --ca-key PEM --token TOKEN [--mode ok|unauth|unavailable-once]
//                  [--log FILE] [--listen ADDR:PORT]
//
// Listens with TLS on --listen (default 127.0.0.1:0, a free port), the port
// written to --port-file once serving.  CreateCertificate checks "authorization: Bearer TOKEN"
// (UNAUTHENTICATED otherwise), signs the CSR with the openssl CLI (x509
// -req, the CSR's names copied, validity_duration rounded up to days) and
// answers cert_chain = [leaf, CA].  Modes: unauth answers UNAUTHENTICATED
// to every call; unavailable-once answers UNAVAILABLE to the first.  One
// log line per call: the call number, whether the token matched (never the
// token), the validity asked for, the status.  (The gRPC library itself
// refuses a call without content-type application/grpc or te: trailers.)  SIGTERM or SIGINT end it.
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/server_credentials.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ca.grpc.pb.h"

namespace {

using istio::v1::auth::IstioCertificateRequest;
using istio::v1::auth::IstioCertificateResponse;
using istio::v1::auth::IstioCertificateService;

std::string file_read(const std::string &path)
{
	std::ifstream f(path, std::ios::binary);
	if (!f)
		throw std::runtime_error("cannot read " + path);
	std::ostringstream s;
	s << f.rdbuf();
	return s.str();
}

void file_write(const std::string &path, const std::string &data)
{
	std::ofstream f(path, std::ios::binary | std::ios::trunc);
	f << data;
	if (!f)
		throw std::runtime_error("cannot write " + path);
}

// Run a program (no shell) and wait: true when it exits 0.
bool program_run(const char *const argv[])
{
	pid_t pid = fork();
	if (pid < 0)
		return false;
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		if (null >= 0) {
			dup2(null, 1);
			dup2(null, 2);
		}
		execvp(argv[0], const_cast<char *const *>(argv));
		_exit(127);
	}
	int st = 0;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return false;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

struct Options {
	std::string port_file, cert, key, ca_cert, ca_key, token, mode = "ok", log, listen = "127.0.0.1:0";
};

class CA final : public IstioCertificateService::Service {
public:
	explicit CA(const Options &o) : o_(o), dir_(make_dir()) {}
	~CA() override
	{
		for (const char *f : { "csr.pem", "leaf.pem", "ext.cnf", "ca.srl" })
			unlink((dir_ + "/" + f).c_str());
		rmdir(dir_.c_str());
	}

	grpc::Status CreateCertificate(grpc::ServerContext *ctx, const IstioCertificateRequest *req,
	                               IstioCertificateResponse *resp) override
	{
		std::lock_guard<std::mutex> lock(mu_);
		unsigned n = ++calls_;
		const auto &md = ctx->client_metadata();
		auto header = [&md](const char *name) {
			auto it = md.find(name);
			return it == md.end() ? std::string("-") : std::string(it->second.data(), it->second.size());
		};
		bool token_ok = header("authorization") == "Bearer " + o_.token;
		grpc::Status st = answer(n, token_ok, *req, resp);
		log(n, token_ok, req->validity_duration(), st);
		return st;
	}

private:
	static std::string make_dir()
	{
		char t[] = "/tmp/grpc-ca.XXXXXX";
		if (!mkdtemp(t))
			throw std::runtime_error("mkdtemp");
		return t;
	}

	grpc::Status answer(unsigned n, bool token_ok, const IstioCertificateRequest &req, IstioCertificateResponse *resp)
	{
		if (o_.mode == "unauth" || !token_ok)
			return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "token rejected");
		if (o_.mode == "unavailable-once" && n == 1)
			return grpc::Status(grpc::StatusCode::UNAVAILABLE, "warming up");
		if (req.csr().empty())
			return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no CSR");
		long long secs = req.validity_duration() > 0 ? req.validity_duration() : 86400;
		std::string days = std::to_string((secs + 86399) / 86400);
		file_write(dir_ + "/csr.pem", req.csr());
		file_write(dir_ + "/ext.cnf", "[leaf]\nbasicConstraints=critical,CA:FALSE\n"
		                              "keyUsage=critical,digitalSignature,keyEncipherment\n"
		                              "extendedKeyUsage=serverAuth,clientAuth\n");
		std::string csr = dir_ + "/csr.pem", leaf = dir_ + "/leaf.pem", ext = dir_ + "/ext.cnf",
		            srl = dir_ + "/ca.srl";
		const char *const argv[] = { "openssl", "x509", "-req", "-in", csr.c_str(), "-CA", o_.ca_cert.c_str(),
			                     "-CAkey", o_.ca_key.c_str(), "-CAserial", srl.c_str(), "-CAcreateserial",
			                     "-days", days.c_str(), "-copy_extensions", "copyall", "-extfile", ext.c_str(),
			                     "-extensions", "leaf", "-out", leaf.c_str(), nullptr };
		if (!program_run(argv))
			return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "the CSR could not be signed");
		resp->add_cert_chain(file_read(leaf));
		resp->add_cert_chain(file_read(o_.ca_cert));
		return grpc::Status::OK;
	}

	void log(unsigned n, bool token_ok, long long validity, const grpc::Status &st)
	{
		if (o_.log.empty())
			return;
		std::ofstream f(o_.log, std::ios::app);
		f << "call=" << n << " mode=" << o_.mode << " token=" << (token_ok ? "match" : "mismatch")
		  << " validity=" << validity
		  << " grpc-status=" << st.error_code() << "\n";
	}

	const Options &o_;
	std::string dir_;
	std::mutex mu_;
	unsigned calls_ = 0;
};

Options options_parse(int argc, char **argv)
{
	Options o;
	for (int i = 1; i + 1 < argc; i += 2) {
		std::string k = argv[i], v = argv[i + 1];
		if (k == "--port-file") o.port_file = v;
		else if (k == "--cert") o.cert = v;
		else if (k == "--key") o.key = v;
		else if (k == "--ca-cert") o.ca_cert = v;
		else if (k == "--ca-key") o.ca_key = v;
		else if (k == "--token") o.token = v;
		else if (k == "--mode") o.mode = v;
		else if (k == "--log") o.log = v;
		else if (k == "--listen") o.listen = v;
		else throw std::runtime_error("unknown option " + k);
	}
	if (argc % 2 == 0 || o.port_file.empty() || o.cert.empty() || o.key.empty() || o.ca_cert.empty() ||
	    o.ca_key.empty() || o.token.empty())
		throw std::runtime_error("usage: grpc-ca-server --port-file F --cert C --key K --ca-cert C --ca-key K "
		                         "--token T [--mode ok|unauth|unavailable-once] [--log F] [--listen A:P]");
	if (o.mode != "ok" && o.mode != "unauth" && o.mode != "unavailable-once")
		throw std::runtime_error("unknown mode " + o.mode);
	return o;
}

} // namespace

int main(int argc, char **argv)
{
	try {
		Options o = options_parse(argc, argv);
		sigset_t set;
		sigemptyset(&set);
		sigaddset(&set, SIGTERM);
		sigaddset(&set, SIGINT);
		pthread_sigmask(SIG_BLOCK, &set, nullptr); // every thread: sigwait below takes them

		CA ca(o);
		grpc::SslServerCredentialsOptions tls;
		tls.pem_key_cert_pairs.push_back({ file_read(o.key), file_read(o.cert) });
		grpc::ServerBuilder b;
		int port = 0;
		b.AddListeningPort(o.listen, grpc::SslServerCredentials(tls), &port);
		b.RegisterService(&ca);
		std::unique_ptr<grpc::Server> server = b.BuildAndStart();
		if (!server || port == 0)
			throw std::runtime_error("cannot listen on " + o.listen);
		file_write(o.port_file + ".tmp", std::to_string(port) + "\n");
		rename((o.port_file + ".tmp").c_str(), o.port_file.c_str());

		std::thread waiter([&server, &set] {
			int sig = 0;
			sigwait(&set, &sig);
			server->Shutdown();
		});
		server->Wait();
		waiter.join();
		return 0;
	} catch (const std::exception &e) {
		std::cerr << "grpc-ca-server: " << e.what() << "\n";
		return 1;
	}
}

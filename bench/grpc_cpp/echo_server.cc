// echo_server.cc — the gRPC C++ peer of the gRPC benchmark (bench/grpc_vs_cpp.sh): serves
// regatta.test.v1.Echo/Unary with the same rules as our C server (proto/test/v1/echo.proto:
// echo the payload, or response_bytes of pattern i % 251, or fail_code/fail_message), so both
// servers do the same work per call.
//
// Two server styles, both gRPC C++'s recommended fast paths, so the comparison is against
// gRPC's best: --api async (default: completion queues, one polling thread per CQ, the style of
// gRPC's own qps benchmark) and --api callback (the callback API). --threads N sets the number
// of CQs/threads for async. Run it under `taskset -c <cpu>` to give it one core: every thread
// gRPC starts inherits the mask.
//
// Prints "port=<n>" once listening (bind port 0 by default), stops on SIGTERM/SIGINT.
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "test/v1/echo.grpc.pb.h"

using regatta::test::v1::Echo;
using regatta::test::v1::EchoRequest;
using regatta::test::v1::EchoResponse;

namespace {

std::atomic<bool> g_stop{false};

void on_signal(int) { g_stop.store(true); }

// The one piece of work both servers do: build the answer to one EchoRequest.
grpc::Status answer(const EchoRequest &req, EchoResponse *resp)
{
	if (req.fail_code() != 0)
		return grpc::Status(static_cast<grpc::StatusCode>(req.fail_code()),
				    req.fail_message());
	if (req.response_bytes() != 0) {
		std::string *p = resp->mutable_payload();
		p->resize(req.response_bytes());
		for (uint32_t i = 0; i < req.response_bytes(); i++)
			(*p)[i] = static_cast<char>(i % 251);
	} else {
		resp->set_payload(req.payload());
	}
	resp->set_sequence(0);
	resp->set_received_bytes(req.payload().size());
	return grpc::Status::OK;
}

// ---- async (completion queue) style ----------------------------------------------------
class UnaryCall {
public:
	UnaryCall(Echo::AsyncService *svc, grpc::ServerCompletionQueue *cq)
		: svc_(svc), cq_(cq), writer_(&ctx_)
	{
		svc_->RequestUnary(&ctx_, &req_, &writer_, cq_, cq_, this);
	}
	void proceed(bool ok)
	{
		if (!ok || done_) {
			delete this;
			return;
		}
		new UnaryCall(svc_, cq_); // keep one call armed
		grpc::Status st = answer(req_, &resp_);
		done_ = true;
		if (st.ok())
			writer_.Finish(resp_, st, this);
		else
			writer_.FinishWithError(st, this);
	}

private:
	Echo::AsyncService *svc_;
	grpc::ServerCompletionQueue *cq_;
	grpc::ServerContext ctx_;
	EchoRequest req_;
	EchoResponse resp_;
	grpc::ServerAsyncResponseWriter<EchoResponse> writer_;
	bool done_ = false;
};

void poll_cq(Echo::AsyncService *svc, grpc::ServerCompletionQueue *cq, int armed)
{
	for (int i = 0; i < armed; i++)
		new UnaryCall(svc, cq);
	void *tag;
	bool ok;
	while (cq->Next(&tag, &ok))
		static_cast<UnaryCall *>(tag)->proceed(ok);
}

// ---- callback style --------------------------------------------------------------------
class CallbackEcho final : public Echo::CallbackService {
	grpc::ServerUnaryReactor *Unary(grpc::CallbackServerContext *ctx, const EchoRequest *req,
					EchoResponse *resp) override
	{
		grpc::ServerUnaryReactor *r = ctx->DefaultReactor();
		r->Finish(answer(*req, resp));
		return r;
	}
};

void usage()
{
	std::fprintf(stderr, "usage: grpc_cpp_echo_server [--port N] [--api async|callback] "
			     "[--threads N] [--armed N]\n");
	std::exit(2);
}

} // namespace

int main(int argc, char **argv)
{
	int port = 0;
	int threads = 1;
	int armed = 1000; // outstanding RequestUnary per CQ (well above the bench's concurrency)
	std::string api = "async";
	for (int i = 1; i < argc; i++) {
		std::string a = argv[i];
		if (i + 1 >= argc)
			usage();
		if (a == "--port")
			port = std::atoi(argv[++i]);
		else if (a == "--api")
			api = argv[++i];
		else if (a == "--threads")
			threads = std::atoi(argv[++i]);
		else if (a == "--armed")
			armed = std::atoi(argv[++i]);
		else
			usage();
	}
	if (threads < 1 || threads > 64 || (api != "async" && api != "callback"))
		usage();

	std::signal(SIGTERM, on_signal);
	std::signal(SIGINT, on_signal);

	grpc::ServerBuilder b;
	int bound = 0;
	b.AddListeningPort("127.0.0.1:" + std::to_string(port), grpc::InsecureServerCredentials(),
			   &bound);
	b.SetMaxReceiveMessageSize(4 << 20);
	Echo::AsyncService async_svc;
	CallbackEcho cb_svc;
	std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> cqs;
	if (api == "async") {
		b.RegisterService(&async_svc);
		for (int i = 0; i < threads; i++)
			cqs.push_back(b.AddCompletionQueue());
	} else {
		b.RegisterService(&cb_svc);
	}
	std::unique_ptr<grpc::Server> server = b.BuildAndStart();
	if (!server || bound == 0) {
		std::fprintf(stderr, "grpc_cpp_echo_server: cannot listen on port %d\n", port);
		return 1;
	}
	std::printf("port=%d\napi=%s threads=%d grpc=%s\n", bound, api.c_str(), threads,
		    grpc::Version().c_str());
	std::fflush(stdout);

	std::vector<std::thread> pollers;
	for (auto &cq : cqs)
		pollers.emplace_back(poll_cq, &async_svc, cq.get(), armed);
	// Bounded: a forgotten server exits by itself after an hour.
	for (int i = 0; i < 36000 && !g_stop.load(); i++)
		usleep(100 * 1000);
	server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
	for (auto &cq : cqs)
		cq->Shutdown();
	for (auto &t : pollers)
		t.join();
	return 0;
}

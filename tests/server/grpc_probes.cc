#include "tests/server/grpc_probes.h"

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "google/protobuf/unknown_field_set.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/support/byte_buffer.h"
#include "server/common/status_convert.h"

namespace umcg_rpc::testing {
namespace {

using google::protobuf::UnknownField;
using google::protobuf::UnknownFieldSet;

std::string ToString(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  (void)buffer.Dump(&slices);
  std::string out;
  for (const grpc::Slice& s : slices) {
    out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return out;
}

grpc::ByteBuffer FromString(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

// A length-delimited field: tag byte, one-byte length, bytes (< 128).
std::string LengthDelimited(int field, const std::string& value) {
  std::string out;
  out += static_cast<char>((field << 3) | 2);
  out += static_cast<char>(value.size());
  out += value;
  return out;
}

bool WaitFor(grpc::CompletionQueue& cq, void* expected) {
  void* tag;
  bool ok;
  return cq.Next(&tag, &ok) && tag == expected && ok;
}

}  // namespace

absl::StatusOr<int> CheckHealth(const std::shared_ptr<grpc::Channel>& channel,
                                const std::string& service) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  grpc::ByteBuffer request =
      FromString(service.empty() ? "" : LengthDelimited(1, service));
  grpc::ByteBuffer response;
  grpc::Status status;
  absl::Notification done;
  stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(),
                 &request, &response, [&](grpc::Status s) {
                   status = std::move(s);
                   done.Notify();
                 });
  done.WaitForNotification();
  if (!status.ok()) return ToAbslStatus(status);
  UnknownFieldSet fields;
  if (!fields.ParseFromString(ToString(response))) {
    return absl::DataLossError("bad HealthCheckResponse");
  }
  for (int i = 0; i < fields.field_count(); ++i) {
    if (fields.field(i).number() == 1 &&
        fields.field(i).type() == UnknownField::TYPE_VARINT) {
      return static_cast<int>(fields.field(i).varint());
    }
  }
  return 0;  // proto3 default: UNKNOWN.
}

absl::StatusOr<std::vector<std::string>> ListServicesByReflection(
    const std::shared_ptr<grpc::Channel>& channel) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  grpc::CompletionQueue cq;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call = stub.PrepareCall(
      &context,
      "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  int tags[5];
  call->StartCall(&tags[0]);
  if (!WaitFor(cq, &tags[0])) return absl::UnavailableError("start failed");
  // ServerReflectionRequest { list_services = 7: "" }
  call->Write(FromString(LengthDelimited(7, "")), &tags[1]);
  if (!WaitFor(cq, &tags[1])) return absl::UnavailableError("write failed");
  call->WritesDone(&tags[2]);
  if (!WaitFor(cq, &tags[2])) return absl::UnavailableError("close failed");
  grpc::ByteBuffer response;
  call->Read(&response, &tags[3]);
  const bool read_ok = WaitFor(cq, &tags[3]);
  grpc::Status status;
  call->Finish(&status, &tags[4]);
  WaitFor(cq, &tags[4]);
  cq.Shutdown();
  void* tag;
  bool ok;
  while (cq.Next(&tag, &ok)) {
  }
  if (!status.ok()) return ToAbslStatus(status);
  if (!read_ok) return absl::DataLossError("no reflection response");

  // ServerReflectionResponse { list_services_response = 6 {
  //   repeated ServiceResponse service = 1 { string name = 1 } } }
  UnknownFieldSet top;
  if (!top.ParseFromString(ToString(response))) {
    return absl::DataLossError("bad ServerReflectionResponse");
  }
  std::vector<std::string> names;
  for (int i = 0; i < top.field_count(); ++i) {
    if (top.field(i).number() != 6) continue;
    UnknownFieldSet list;
    if (!list.ParseFromString(top.field(i).length_delimited())) {
      return absl::DataLossError("bad ListServiceResponse");
    }
    for (int j = 0; j < list.field_count(); ++j) {
      if (list.field(j).number() != 1) continue;
      UnknownFieldSet service;
      if (!service.ParseFromString(list.field(j).length_delimited())) {
        return absl::DataLossError("bad ServiceResponse");
      }
      for (int k = 0; k < service.field_count(); ++k) {
        if (service.field(k).number() == 1) {
          names.push_back(service.field(k).length_delimited());
        }
      }
    }
  }
  return names;
}

}  // namespace umcg_rpc::testing

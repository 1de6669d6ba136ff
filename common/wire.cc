#include "common/wire.h"

#include "common/text.h"

namespace backup {
namespace {

google::protobuf::Timestamp FromMs(int64_t ms) {
  google::protobuf::Timestamp t;
  t.set_seconds(ms / 1000);
  t.set_nanos(static_cast<int32_t>((ms % 1000) * 1'000'000));
  return t;
}

}  // namespace

collector::Status ToProtoStatus(const Error& error) {
  collector::Status s;
  s.set_code(static_cast<collector::Status::Code>(error.code()));
  s.set_message(ValidUtf8(error.message()));  // rows written before messages were checked
  return s;
}

collector::Status OkStatus() {
  collector::Status s;
  s.set_code(collector::Status::OK);
  return s;
}

collector::NamespacedName ToProto(const CollectionName& name) {
  collector::NamespacedName n;
  n.set_namespace_(name.ns);
  n.set_name(name.name);
  return n;
}

CollectionName FromProto(const collector::NamespacedName& name) {
  return {name.namespace_(), name.name()};
}

collector::BackupMetadata ToProto(const BackupRecord& b) {
  collector::BackupMetadata m;
  m.set_backup_id(b.id);
  *m.mutable_collection() = ToProto(b.collection);
  m.set_timestamp(b.timestamp);
  m.set_size_bytes(b.size_bytes);
  m.set_record_count(b.record_count);
  m.set_file_count(b.file_count);
  m.set_includes_files(b.includes_files);
  m.set_storage_path(b.storage_path);
  m.set_storage_type(b.storage_type);
  m.set_store(b.store);
  m.set_compression(b.archived() ? b.compression : "none");
  m.set_key_id(b.key_id);
  m.set_stored_bytes(b.archived() ? b.stored_bytes : b.size_bytes);
  m.mutable_metadata()->insert(b.metadata.begin(), b.metadata.end());
  m.set_state(static_cast<collector::BackupState>(b.state));
  m.set_sha256(b.sha256);
  m.set_completed_at(b.completed_at);
  m.set_job_id(b.job_id);
  m.set_last_verified_at(b.last_verified_at);
  m.set_last_verify_valid(b.last_verify_valid);
  m.set_last_verify_error(ValidUtf8(b.last_verify_error));
  m.set_node(b.node);
  return m;
}

collector::Collection ToProto(const CollectionRecord& c) {
  collector::Collection out;
  out.set_namespace_(c.name.ns);
  out.set_name(c.name.name);
  if (!c.message_type_name.empty()) {
    out.mutable_message_type()->set_namespace_(c.message_type_namespace);
    out.mutable_message_type()->set_message_name(c.message_type_name);
  }
  auto* md = out.mutable_metadata();
  *md->mutable_created_at() = FromMs(c.created_at_ms);
  *md->mutable_updated_at() = FromMs(c.updated_at_ms);
  md->mutable_labels()->insert(c.labels.begin(), c.labels.end());
  return out;
}

collector::Job ToProto(const Job& j) {
  collector::Job out;
  out.set_job_id(j.id);
  out.set_kind(static_cast<collector::JobKind>(j.kind));
  out.set_state(static_cast<collector::JobState>(j.state));
  *out.mutable_collection() = ToProto(j.collection);
  out.set_backup_id(j.backup_id);
  auto* p = out.mutable_progress();
  p->set_phase(j.progress.phase);
  p->set_bytes_done(j.progress.bytes_done);
  p->set_bytes_total(j.progress.bytes_total);
  p->set_items_done(j.progress.items_done);
  p->set_items_total(j.progress.items_total);
  out.set_attempt(j.attempt);
  out.set_max_attempts(j.max_attempts);
  out.set_worker_id(j.lease_owner);
  out.set_created_at_ms(j.created_at_ms);
  out.set_started_at_ms(j.started_at_ms);
  out.set_finished_at_ms(j.finished_at_ms);
  out.set_cancel_requested(j.cancel_requested);
  if (j.error) *out.mutable_error() = ToProtoStatus(*j.error);
  out.set_idempotency_key(j.idempotency_key);
  out.set_submitted_by(j.submitted_by);
  out.set_node(j.node);
  for (const AttemptError& a : j.attempts) {
    auto* e = out.add_attempts();
    e->set_attempt(a.attempt);
    e->set_worker_id(a.worker);
    *e->mutable_error() = ToProtoStatus(a.error);
    e->set_finished_at_ms(a.finished_at_ms);
  }
  if (j.state == JobState::kSucceeded && !j.result.empty()) {
    switch (j.kind) {
      case JobKind::kBackup:
        out.mutable_backup_result()->ParseFromString(j.result);
        break;
      case JobKind::kRestore:
        out.mutable_restore_result()->ParseFromString(j.result);
        break;
      case JobKind::kVerify:
        out.mutable_verify_result()->ParseFromString(j.result);
        break;
      case JobKind::kDelete:
        out.mutable_delete_result()->ParseFromString(j.result);
        break;
    }
  }
  return out;
}

}  // namespace backup

// Where jobs run in a fleet: processes on many hosts (nodes, --node) share one control
// database, and no node reads or writes another node's disk. A collection lives on one
// node; so does a backup written to that node's disk (a plain backup, or an archive in a
// local store), while a backup in a shared store (S3) lives on none ("") and any node
// reads it. A job carries the node whose disk it needs (Job::node, "" for none) and only
// that node's workers claim it (JobQueue::Claim). On a single host every node is "".
//
// Thread-safety: pure functions.
#pragma once

#include <string>

#include "common/error.h"
#include "common/records.h"

namespace backup {

// The node a new backup row of `collection` lives on: the collection's, unless the
// backup goes to a store every node reaches.
inline std::string BackupNode(const CollectionRecord& collection, bool shared_store) {
  return shared_store ? std::string() : collection.node;
}

// The node a backup job runs on: its collection's (it reads the database).
inline std::string BackupJobNode(const CollectionRecord& collection) { return collection.node; }

// The node a verify or a delete of `backup` runs on: the backup's ("" any node).
inline std::string ReaderJobNode(const BackupRecord& backup) { return backup.node; }

// The node a restore of `backup` into `destination` (null: a new collection) runs on:
// the destination's, or for a new collection the backup's, else `here` (the node that
// received the request), where the new collection will then live. kFailedPrecondition
// when the backup is on one node's disk and the destination on another's.
inline Result<std::string> RestoreJobNode(const BackupRecord& backup,
                                          const CollectionRecord* destination,
                                          const std::string& here) {
  if (destination == nullptr) return backup.node.empty() ? here : backup.node;
  if (!backup.node.empty() && backup.node != destination->node) {
    return Fail(Error::FailedPrecondition(
        "backup " + backup.id + " is on node \"" + backup.node + "\"'s disk and collection " +
        destination->name.Key() + " lives on node \"" + destination->node +
        "\"; restore it into a collection on \"" + backup.node +
        "\", or keep backups that move between nodes in a shared store (S3)"));
  }
  return destination->node;
}

}  // namespace backup

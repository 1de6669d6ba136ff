// What a backup keeps of a files folder beyond its regular files' bytes, and how a restore
// gives it back: folders, symbolic links (as their text, never followed), FIFOs and extra
// hard links as entries; owner, group, every mode bit, mtime to the nanosecond, xattrs
// ("user.*" and POSIX ACLs) and holes on each (collector.archive.TreeEntry). Reading and
// writing go through folder descriptors one name at a time (beneath.h), so paths of any
// length work and no link is ever followed.
//
// Thread-safety: functions share no state; each call works on its own tree.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "archive_manifest.pb.h"
#include "common/beneath.h"
#include "common/error.h"

namespace backup {

using TreeEntry = collector::archive::TreeEntry;
using Tree = google::protobuf::RepeatedPtrField<TreeEntry>;

// The entry for `name` in the folder open as `dir_fd` (lstat'ed as `st`), `relative` its
// path in the tree: type, mode, owner, mtime, xattrs, a link's text, a sparse file's data
// extents. An empty `name`: the folder `dir_fd` itself (the files folder's own entry).
Result<TreeEntry> ReadEntry(int dir_fd, const std::string& name, const std::string& relative,
                            const struct stat& st);

// `tree` less the regular files a backup did not store after all (they changed into
// something else, or behind a link, between the listing and the copy) and the hard links
// to them: the tree a backup records matches the bytes it holds. `stored`: the paths of
// the files it stored, in byte order.
Tree TreeOfStored(const Tree& tree, const std::vector<std::string>& stored);

// A regular file's xattrs, read from the file its backup has open (ReadEntry leaves them
// out: reading them by name costs a path walk for each of many small files), into its
// entry in `tree` (sorted by path, as ListFiles gives it); a path it does not list is
// left alone.
Status AddOpenFileXattrs(int fd, const std::string& path, Tree& tree);

// What a restore could not give back as it was.
struct TreeReport {
  static constexpr size_t kListed = 100;
  int64_t owners_not_restored = 0;        // kept the service's owner, setuid/setgid dropped
  std::vector<std::string> not_restored;  // "path: why", at most kListed
  int64_t not_restored_count = 0;
  void NotRestored(const std::string& path, const std::string& why);
};

// Gives the tree below the new folder `root` (a restore's or a verify's own, already
// holding the regular files the backup's reader wrote there) the entries of `tree`: makes
// the folders, links, FIFOs and hard links, then sets each entry's owner (when the service
// may: as root, or when it is the service's own), mode, xattrs, holes and mtime, folders
// after their contents and `root` itself last (an entry with an empty path). An entry whose
// path a restore does not accept, or that cannot be made, is reported, not fatal; an
// error is for what is not the backup's fault (a full disk, an I/O error).
Status ApplyTree(const std::filesystem::path& root, const Tree& tree, TreeReport& report);

}  // namespace backup

/* SPDX-License-Identifier: Apache-2.0 */
/* path.h — znode path rules, as ZooKeeper's PathUtils.validatePath applies
 * them to the UTF-16 form of the path. Pure. */
#ifndef CZK_TREE_PATH_H
#define CZK_TREE_PATH_H

#include <stdbool.h>
#include <stddef.h>

/* True when `path` is a valid znode path: starts with '/', no trailing '/',
 * no empty, "." or ".." components, no NUL, no control characters
 * (U+0001-U+001F, U+007F-U+009F), no characters at U+D800-U+F8FF (which
 * includes every character outside the BMP) or U+FFF0-U+FFFF, and valid
 * UTF-8 (Java would decode a bad sequence to U+FFFD, which is refused). */
bool path_is_valid(const char *path, size_t len);
/* Length of the parent's path ("/" for a child of the root); path must have a '/'. */
size_t path_parent_len(const char *path, size_t len);
/* True if the path names one of the nodes ZooKeeper protects from delete:
 * "/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config". */
bool path_is_special(const char *path, size_t len);

#endif

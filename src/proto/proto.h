/* SPDX-License-Identifier: Apache-2.0 */
/* proto.h — ZooKeeper's protocol constants: opcodes, error codes, special
 * xids, watch event types and states, permissions, create flags; and the
 * frame helpers. Pure. Values: zookeeper.jute, ZooDefs.java, KeeperException. */
#ifndef CZK_PROTO_PROTO_H
#define CZK_PROTO_PROTO_H

#include "base/buf.h"

#include <stdbool.h>
#include <stdint.h>

enum zk_op {
    ZK_OP_NOTIFICATION = 0,
    ZK_OP_CREATE = 1,
    ZK_OP_DELETE = 2,
    ZK_OP_EXISTS = 3,
    ZK_OP_GET_DATA = 4,
    ZK_OP_SET_DATA = 5,
    ZK_OP_GET_ACL = 6,
    ZK_OP_SET_ACL = 7,
    ZK_OP_GET_CHILDREN = 8,
    ZK_OP_SYNC = 9,
    ZK_OP_PING = 11,
    ZK_OP_GET_CHILDREN2 = 12,
    ZK_OP_CHECK = 13,
    ZK_OP_MULTI = 14,
    ZK_OP_CREATE2 = 15,
    ZK_OP_RECONFIG = 16,
    ZK_OP_CHECK_WATCHES = 17,
    ZK_OP_REMOVE_WATCHES = 18,
    ZK_OP_CREATE_CONTAINER = 19,
    ZK_OP_DELETE_CONTAINER = 20,
    ZK_OP_CREATE_TTL = 21,
    ZK_OP_MULTI_READ = 22,
    ZK_OP_AUTH = 100,
    ZK_OP_SET_WATCHES = 101,
    ZK_OP_SASL = 102,
    ZK_OP_GET_EPHEMERALS = 103,
    ZK_OP_GET_ALL_CHILDREN_NUMBER = 104,
    ZK_OP_SET_WATCHES2 = 105,
    ZK_OP_ADD_WATCH = 106,
    ZK_OP_WHO_AM_I = 107,
    ZK_OP_CREATE_SESSION = -10,
    ZK_OP_CLOSE_SESSION = -11,
    ZK_OP_ERROR = -1,
};

enum zk_err {
    ZK_OK = 0,
    ZK_SYSTEMERROR = -1,
    ZK_RUNTIMEINCONSISTENCY = -2,
    ZK_DATAINCONSISTENCY = -3,
    ZK_CONNECTIONLOSS = -4,
    ZK_MARSHALLINGERROR = -5,
    ZK_UNIMPLEMENTED = -6,
    ZK_OPERATIONTIMEOUT = -7,
    ZK_BADARGUMENTS = -8,
    ZK_UNKNOWNSESSION = -12,
    ZK_NEWCONFIGNOQUORUM = -13,
    ZK_RECONFIGINPROGRESS = -14,
    ZK_APIERROR = -100,
    ZK_NONODE = -101,
    ZK_NOAUTH = -102,
    ZK_BADVERSION = -103,
    ZK_NOCHILDRENFOREPHEMERALS = -108,
    ZK_NODEEXISTS = -110,
    ZK_NOTEMPTY = -111,
    ZK_SESSIONEXPIRED = -112,
    ZK_INVALIDCALLBACK = -113,
    ZK_INVALIDACL = -114,
    ZK_AUTHFAILED = -115,
    ZK_SESSIONMOVED = -118,
    ZK_NOTREADONLY = -119,
    ZK_EPHEMERALONLOCALSESSION = -120,
    ZK_NOWATCHER = -121,
    ZK_REQUESTTIMEOUT = -122,
    ZK_RECONFIGDISABLED = -123,
    ZK_SESSIONCLOSEDREQUIRESASLAUTH = -124,
    ZK_QUOTAEXCEEDED = -125,
    ZK_THROTTLEDOP = -127,
};

enum {
    ZK_XID_NOTIFICATION = -1,
    ZK_XID_PING = -2,
    ZK_XID_AUTH = -4,
    ZK_XID_SET_WATCHES = -8,
};

enum zk_event_type {
    ZK_EVENT_NONE = -1,
    ZK_EVENT_NODE_CREATED = 1,
    ZK_EVENT_NODE_DELETED = 2,
    ZK_EVENT_NODE_DATA_CHANGED = 3,
    ZK_EVENT_NODE_CHILDREN_CHANGED = 4,
    ZK_EVENT_DATA_WATCH_REMOVED = 5,
    ZK_EVENT_CHILD_WATCH_REMOVED = 6,
};

enum zk_state {
    ZK_STATE_DISCONNECTED = 0,
    ZK_STATE_SYNC_CONNECTED = 3,
    ZK_STATE_AUTH_FAILED = 4,
    ZK_STATE_CONNECTED_READ_ONLY = 5,
    ZK_STATE_EXPIRED = -112,
};

enum zk_perm {
    ZK_PERM_READ = 1,
    ZK_PERM_WRITE = 2,
    ZK_PERM_CREATE = 4,
    ZK_PERM_DELETE = 8,
    ZK_PERM_ADMIN = 16,
    ZK_PERM_ALL = 31,
};

enum zk_create_mode {
    ZK_CREATE_PERSISTENT = 0,
    ZK_CREATE_EPHEMERAL = 1,
    ZK_CREATE_PERSISTENT_SEQUENTIAL = 2,
    ZK_CREATE_EPHEMERAL_SEQUENTIAL = 3,
    ZK_CREATE_CONTAINER = 4,
    ZK_CREATE_PERSISTENT_WITH_TTL = 5,
    ZK_CREATE_PERSISTENT_SEQUENTIAL_WITH_TTL = 6,
};

/* ZooKeeper's default jute.maxbuffer (0xfffff). */
#define ZK_MAX_BUFFER_DEFAULT 0xfffff

const char *zk_op_name(int32_t op);
const char *zk_err_name(int32_t err);
/* Opcodes that change the tree (go through prep and the log). */
bool zk_op_is_write(int32_t op);

/* Framing: start a frame (reserves the 4-byte length), finish it (patches it). */
size_t frame_begin(struct buf *b);
void frame_end(struct buf *b, size_t start);

/* Four-letter words: the first 4 bytes of a connection read as an int. */
bool four_letter_word_is(const uint8_t *p);

#endif

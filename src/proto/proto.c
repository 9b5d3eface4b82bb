/* SPDX-License-Identifier: Apache-2.0 */
#include "proto/proto.h"

#include <string.h>

const char *zk_op_name(int32_t op)
{
    switch (op) {
    case ZK_OP_NOTIFICATION:
        return "notification";
    case ZK_OP_CREATE:
        return "create";
    case ZK_OP_DELETE:
        return "delete";
    case ZK_OP_EXISTS:
        return "exists";
    case ZK_OP_GET_DATA:
        return "getData";
    case ZK_OP_SET_DATA:
        return "setData";
    case ZK_OP_GET_ACL:
        return "getACL";
    case ZK_OP_SET_ACL:
        return "setACL";
    case ZK_OP_GET_CHILDREN:
        return "getChildren";
    case ZK_OP_SYNC:
        return "sync";
    case ZK_OP_PING:
        return "ping";
    case ZK_OP_GET_CHILDREN2:
        return "getChildren2";
    case ZK_OP_CHECK:
        return "check";
    case ZK_OP_MULTI:
        return "multi";
    case ZK_OP_CREATE2:
        return "create2";
    case ZK_OP_RECONFIG:
        return "reconfig";
    case ZK_OP_CHECK_WATCHES:
        return "checkWatches";
    case ZK_OP_REMOVE_WATCHES:
        return "removeWatches";
    case ZK_OP_CREATE_CONTAINER:
        return "createContainer";
    case ZK_OP_DELETE_CONTAINER:
        return "deleteContainer";
    case ZK_OP_CREATE_TTL:
        return "createTTL";
    case ZK_OP_MULTI_READ:
        return "multiRead";
    case ZK_OP_AUTH:
        return "auth";
    case ZK_OP_SET_WATCHES:
        return "setWatches";
    case ZK_OP_SASL:
        return "sasl";
    case ZK_OP_GET_EPHEMERALS:
        return "getEphemerals";
    case ZK_OP_GET_ALL_CHILDREN_NUMBER:
        return "getAllChildrenNumber";
    case ZK_OP_SET_WATCHES2:
        return "setWatches2";
    case ZK_OP_ADD_WATCH:
        return "addWatch";
    case ZK_OP_WHO_AM_I:
        return "whoAmI";
    case ZK_OP_CREATE_SESSION:
        return "createSession";
    case ZK_OP_CLOSE_SESSION:
        return "closeSession";
    case ZK_OP_ERROR:
        return "error";
    default:
        return "unknown";
    }
}

const char *zk_err_name(int32_t err)
{
    switch (err) {
    case ZK_OK:
        return "OK";
    case ZK_SYSTEMERROR:
        return "SYSTEMERROR";
    case ZK_RUNTIMEINCONSISTENCY:
        return "RUNTIMEINCONSISTENCY";
    case ZK_DATAINCONSISTENCY:
        return "DATAINCONSISTENCY";
    case ZK_CONNECTIONLOSS:
        return "CONNECTIONLOSS";
    case ZK_MARSHALLINGERROR:
        return "MARSHALLINGERROR";
    case ZK_UNIMPLEMENTED:
        return "UNIMPLEMENTED";
    case ZK_OPERATIONTIMEOUT:
        return "OPERATIONTIMEOUT";
    case ZK_BADARGUMENTS:
        return "BADARGUMENTS";
    case ZK_NONODE:
        return "NONODE";
    case ZK_NOAUTH:
        return "NOAUTH";
    case ZK_BADVERSION:
        return "BADVERSION";
    case ZK_NOCHILDRENFOREPHEMERALS:
        return "NOCHILDRENFOREPHEMERALS";
    case ZK_NODEEXISTS:
        return "NODEEXISTS";
    case ZK_NOTEMPTY:
        return "NOTEMPTY";
    case ZK_SESSIONEXPIRED:
        return "SESSIONEXPIRED";
    case ZK_INVALIDACL:
        return "INVALIDACL";
    case ZK_AUTHFAILED:
        return "AUTHFAILED";
    case ZK_SESSIONMOVED:
        return "SESSIONMOVED";
    case ZK_NOTREADONLY:
        return "NOTREADONLY";
    case ZK_NOWATCHER:
        return "NOWATCHER";
    case ZK_RECONFIGDISABLED:
        return "RECONFIGDISABLED";
    case ZK_QUOTAEXCEEDED:
        return "QUOTAEXCEEDED";
    case ZK_THROTTLEDOP:
        return "THROTTLEDOP";
    default:
        return "UNKNOWN";
    }
}

bool zk_op_is_write(int32_t op)
{
    switch (op) {
    case ZK_OP_CREATE:
    case ZK_OP_CREATE2:
    case ZK_OP_CREATE_CONTAINER:
    case ZK_OP_CREATE_TTL:
    case ZK_OP_DELETE:
    case ZK_OP_DELETE_CONTAINER:
    case ZK_OP_SET_DATA:
    case ZK_OP_SET_ACL:
    case ZK_OP_MULTI:
    case ZK_OP_RECONFIG:
    case ZK_OP_CLOSE_SESSION:
    case ZK_OP_CREATE_SESSION:
        return true;
    default:
        return false;
    }
}

size_t frame_begin(struct buf *b)
{
    size_t start = b->len;
    buf_append_be32(b, 0);
    return start;
}

void frame_end(struct buf *b, size_t start)
{
    buf_put_be32(b, start, (uint32_t)(b->len - start - 4));
}

bool four_letter_word_is(const uint8_t *p)
{
    static const char words[] = "confconscrstdumpenvireqsruoksrstsrvrstatwchswchcwchpdirsmntr"
                                "isrohashgtmkstmk";
    for (size_t i = 0; i + 4 <= sizeof(words) - 1; i += 4)
        if (memcmp(words + i, p, 4) == 0)
            return true;
    return false;
}

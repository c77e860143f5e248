/* Segment identity: the secret issued at a segment's first mount, required
 * for every later mount and unmount of it; a segment's client id (and name)
 * fixed while the master knows it. */
#include "master_fixture.h"
#include "mc/auth.h"
#include "mc/strutil.h"

static mc_master_segment_spec_t spec(uint64_t seg, uint64_t client, const char *name)
{
    return (mc_master_segment_spec_t){.id = seg_id(seg),
                                      .client_id = client_id(client),
                                      .name = name,
                                      .endpoint = "127.0.0.1:1",
                                      .base = 4096,
                                      .size = 64 * MiB};
}

Test(identity, first_mount_issues_a_secret_and_remounts_need_it)
{
    mc_master_t *m = fx_create();
    mc_master_segment_spec_t sp = spec(1, 1, "a");
    char secret[MC_MASTER_SECRET_MAX] = "", again[MC_MASTER_SECRET_MAX] = "";
    char wrong[MC_MASTER_SECRET_MAX];
    uint64_t e1 = 0, e2 = 0;

    cr_assert_eq(mc_master_mount_secret(m, &sp, 0, &e1, secret), MC_OK);
    cr_expect_eq(strlen(secret), MC_AUTH_SECRET_LEN);
    /* no secret, a wrong one, a prefix, one longer: refused */
    cr_expect_eq(mc_master_mount_secret(m, &sp, 0, NULL, NULL), MC_ILLEGAL_CLIENT);
    mc_strlcpy(wrong, secret, sizeof(wrong));
    wrong[5] = wrong[5] == 'a' ? 'b' : 'a';
    sp.secret = wrong;
    cr_expect_eq(mc_master_mount(m, &sp, 0, NULL), MC_ILLEGAL_CLIENT);
    sp.secret = "";
    cr_expect_eq(mc_master_mount(m, &sp, 0, NULL), MC_ILLEGAL_CLIENT);
    mc_strlcpy(wrong, secret, 20);
    sp.secret = wrong;
    cr_expect_eq(mc_master_mount(m, &sp, 0, NULL), MC_ILLEGAL_CLIENT);
    /* the owner with its secret: idempotent, same epoch, same secret */
    sp.secret = secret;
    cr_expect_eq(mc_master_mount_secret(m, &sp, 0, &e2, again), MC_OK);
    cr_expect_eq(e1, e2);
    cr_expect_str_eq(again, secret);
    /* the secret is per segment: another segment gets another one */
    mc_master_segment_spec_t sp2 = spec(2, 1, "b");
    cr_assert_eq(mc_master_mount_secret(m, &sp2, 0, NULL, again), MC_OK);
    cr_expect_str_neq(again, secret);
    mc_master_destroy(m);
}

Test(identity, another_client_cannot_take_an_id_or_a_name)
{
    mc_master_t *m = fx_create();
    mc_master_segment_spec_t sp = spec(1, 1, "a");
    char secret[MC_MASTER_SECRET_MAX];

    cr_assert_eq(mc_master_mount_secret(m, &sp, 0, NULL, secret), MC_OK);
    /* same id, another client, even with the secret */
    mc_master_segment_spec_t rogue = spec(1, 2, "a");
    rogue.secret = secret;
    cr_expect_eq(mc_master_mount(m, &rogue, 0, NULL), MC_ILLEGAL_CLIENT);
    /* a new id under the name of client 1's segment */
    rogue = spec(7, 2, "a");
    cr_expect_eq(mc_master_mount(m, &rogue, 0, NULL), MC_ILLEGAL_CLIENT);
    /* the owner may add a segment of its own; a fresh name is anyone's */
    mc_master_segment_spec_t own = spec(8, 1, "c");
    cr_expect_eq(mc_master_mount(m, &own, 0, NULL), MC_OK);
    rogue = spec(9, 2, "d");
    cr_expect_eq(mc_master_mount(m, &rogue, 0, NULL), MC_OK);
    mc_master_destroy(m);
}

Test(identity, unmounts_need_the_owner_and_the_secret)
{
    mc_master_t *m = fx_create();
    mc_master_segment_spec_t sp = spec(1, 1, "a");
    char secret[MC_MASTER_SECRET_MAX];
    mc_master_segment_info_t info;

    cr_assert_eq(mc_master_mount_secret(m, &sp, 0, NULL, secret), MC_OK);
    cr_expect_eq(mc_master_unmount_owned(m, seg_id(1), client_id(1), NULL), MC_ILLEGAL_CLIENT);
    cr_expect_eq(mc_master_unmount_owned(m, seg_id(1), client_id(1), "nope"), MC_ILLEGAL_CLIENT);
    cr_expect_eq(mc_master_unmount_owned(m, seg_id(1), client_id(2), secret), MC_ILLEGAL_CLIENT);
    cr_expect_eq(mc_master_unmount_owned(m, seg_id(1), (mc_uuid_t){0, 0}, secret),
                 MC_ILLEGAL_CLIENT, "a nil client is no owner on the wire");
    cr_expect_eq(mc_master_unmount_graceful_owned(m, seg_id(1), client_id(1), NULL, 1000),
                 MC_ILLEGAL_CLIENT);
    cr_expect_eq(mc_master_unmount_graceful_owned(m, seg_id(1), client_id(2), secret, 1000),
                 MC_ILLEGAL_CLIENT);
    cr_assert_eq(mc_master_segment_get(m, seg_id(1), &info), MC_OK);
    cr_expect_eq(info.state, MC_SEG_MOUNTED, "nothing changed");
    cr_expect_eq(mc_master_unmount_graceful_owned(m, seg_id(1), client_id(1), secret, 1000), MC_OK);
    cr_assert_eq(mc_master_segment_get(m, seg_id(1), &info), MC_OK);
    cr_expect_eq(info.state, MC_SEG_DRAINING);
    cr_expect_eq(mc_master_unmount_owned(m, seg_id(1), client_id(1), secret), MC_OK);
    cr_expect_eq(mc_master_unmount_owned(m, seg_id(1), client_id(1), secret), MC_SEGMENT_NOT_FOUND);
    mc_master_destroy(m);
}

Test(identity, a_forgotten_segment_is_mounted_afresh_with_a_new_secret)
{
    mc_master_t *m = fx_create();
    mc_master_segment_spec_t sp = spec(1, 1, "a");
    char s1[MC_MASTER_SECRET_MAX], s2[MC_MASTER_SECRET_MAX];

    cr_assert_eq(mc_master_mount_secret(m, &sp, 0, NULL, s1), MC_OK);
    cr_assert_eq(mc_master_unmount_owned(m, seg_id(1), client_id(1), s1), MC_OK);
    /* the master forgot it: a first mount again (any client, stale secret ignored) */
    sp.secret = s1;
    cr_assert_eq(mc_master_mount_secret(m, &sp, 0, NULL, s2), MC_OK);
    cr_expect_str_neq(s1, s2);
    sp.secret = s1;
    cr_expect_eq(mc_master_mount(m, &sp, 0, NULL), MC_ILLEGAL_CLIENT, "the old one is void");
    mc_master_destroy(m);
}

Test(identity, an_expired_client_loses_its_segments_and_their_secrets)
{
    mc_master_cfg_t cfg;
    mc_master_cfg_defaults(&cfg);
    cfg.client_ttl_ms = 1000;
    mc_master_t *m = fx_create_cfg(&cfg);
    mc_master_segment_spec_t sp = spec(1, 1, "a");
    char s1[MC_MASTER_SECRET_MAX];

    cr_assert_eq(mc_master_mount_secret(m, &sp, 0, NULL, s1), MC_OK);
    /* while client 1 lives, client 2 cannot take its name */
    mc_master_segment_spec_t other = spec(2, 2, "a");
    cr_expect_eq(mc_master_mount(m, &other, 500, NULL), MC_ILLEGAL_CLIENT);
    cr_assert_eq(mc_master_tick(m, 5000, NULL), MC_OK);
    cr_expect_eq(mc_master_mount(m, &other, 5000, NULL), MC_OK, "the name is free again");
    mc_master_destroy(m);
}

Test(identity, a_client_proves_itself_with_the_secret_of_one_of_its_segments)
{
    mc_master_t *m = fx_create();
    mc_master_segment_spec_t sp = spec(1, 1, "a");
    char secret[MC_MASTER_SECRET_MAX], wrong[MC_MASTER_SECRET_MAX];

    cr_expect_not(mc_master_client_proved(m, client_id(1), "x"), "no segment yet");
    cr_assert_eq(mc_master_mount_secret(m, &sp, 0, NULL, secret), MC_OK);
    cr_expect(mc_master_client_proved(m, client_id(1), secret));
    cr_expect_not(mc_master_client_proved(m, client_id(2), secret), "another client id");
    cr_expect_not(mc_master_client_proved(m, client_id(1), NULL));
    cr_expect_not(mc_master_client_proved(m, client_id(1), ""));
    mc_strlcpy(wrong, secret, sizeof(wrong));
    wrong[3] = wrong[3] == 'a' ? 'b' : 'a';
    cr_expect_not(mc_master_client_proved(m, client_id(1), wrong));
    wrong[0] = '\0';
    mc_strlcpy(wrong, secret, 10);
    cr_expect_not(mc_master_client_proved(m, client_id(1), wrong), "a prefix");
    mc_master_destroy(m);
}

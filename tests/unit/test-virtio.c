// SPDX-License-Identifier: MIT
/*
 * The virtio core without a transport: feature negotiation, the device
 * status machine, reset, NEEDS_RESET and configuration generation.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tern/state.h"
#include "tern/virtio.h"
#include "virtio-unit.h"

#define RAM_SIZE (4 * MiB)
#define FEAT(b) (1ULL << (b))
#define MODEL_FEATURE 5

static struct guest_memory mem;
static struct virtio_device vdev;
static unsigned int activations, resets, config_irqs;
static int activate_result;
static uint8_t config[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };

static int model_activate(struct virtio_device *d)
{
	activations++;
	return activate_result;
}

static void model_reset(struct virtio_device *d)
{
	resets++;
}

static const struct virtio_device_ops model_ops = {
	.name = "model",
	.activate = model_activate,
	.reset = model_reset,
};

static void count_config_irq(struct virtio_device *d)
{
	config_irqs++;
}

static const struct virtio_transport_ops transport = {
	.notify_config = count_config_irq,
};

static void setup(void)
{
	ck_assert_int_eq(guest_memory_init(&mem, RAM_SIZE), 0);
	/* The model asks for ACCESS_PLATFORM too: the core leaves it off. */
	ck_assert_int_eq(virtio_device_init(&vdev, &mem, &model_ops, NULL,
					    VIRTIO_ID_RNG,
					    FEAT(MODEL_FEATURE) |
						    FEAT(VIRTIO_F_ACCESS_PLATFORM),
					    2, 64, config, sizeof(config)), 0);
	vdev.transport_ops = &transport;
	activations = resets = config_irqs = 0;
	activate_result = 0;
}

static void teardown(void)
{
	virtio_device_cleanup(&vdev);
	guest_memory_destroy(&mem);
}

static void negotiate(uint64_t features)
{
	virtio_device_set_status(&vdev, VIRTIO_STATUS_ACKNOWLEDGE);
	virtio_device_set_status(&vdev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_device_set_driver_features(&vdev, 0, (uint32_t)features);
	virtio_device_set_driver_features(&vdev, 1, (uint32_t)(features >> 32));
	virtio_device_set_status(&vdev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
						VIRTIO_STATUS_FEATURES_OK);
}

/* Queue i on rings at distinct, valid addresses. */
static void layout_queue(unsigned int i, bool enabled)
{
	*virtq_layout(vdev.queues[i]) = (struct virtq_layout){
		.size = 16,
		.enabled = enabled,
		.desc = 0x10000 + 0x10000 * i,
		.driver = 0x11000 + 0x10000 * i,
		.device = 0x12000 + 0x10000 * i,
	};
}

#define STATUS_FEATURES_OK                                                     \
	(VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |                    \
	 VIRTIO_STATUS_FEATURES_OK)
#define STATUS_RUNNING (STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK)

START_TEST(features_offered)
{
	setup();
	ck_assert_uint_eq(virtio_device_host_features(&vdev, 0),
			  FEAT(MODEL_FEATURE) | FEAT(VIRTIO_F_INDIRECT_DESC) |
				  FEAT(VIRTIO_F_EVENT_IDX));
	ck_assert_uint_eq(virtio_device_host_features(&vdev, 1),
			  (FEAT(VIRTIO_F_VERSION_1) | FEAT(VIRTIO_F_RING_PACKED)) >> 32);
	ck_assert_uint_eq(virtio_device_host_features(&vdev, 2), 0);
	teardown();
}
END_TEST

START_TEST(features_negotiated)
{
	setup();
	/* Bits not offered are dropped, offered ones kept. */
	negotiate(FEAT(VIRTIO_F_VERSION_1) | FEAT(MODEL_FEATURE) | FEAT(7) |
		  FEAT(VIRTIO_F_ACCESS_PLATFORM));
	ck_assert_uint_eq(virtio_device_get_status(&vdev), STATUS_FEATURES_OK);
	ck_assert_uint_eq(vdev.features, FEAT(VIRTIO_F_VERSION_1) | FEAT(MODEL_FEATURE));
	ck_assert_uint_eq(virtio_device_driver_features(&vdev, 0), FEAT(MODEL_FEATURE));
	/* Final after FEATURES_OK. */
	virtio_device_set_driver_features(&vdev, 0, 0);
	ck_assert(virtio_has_feature(&vdev, MODEL_FEATURE));
	teardown();
}
END_TEST

START_TEST(features_ok_needs_version_1)
{
	setup();
	negotiate(FEAT(MODEL_FEATURE));
	ck_assert_uint_eq(virtio_device_get_status(&vdev),
			  VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	/* Still negotiable: a second try with VERSION_1 succeeds. */
	virtio_device_set_driver_features(&vdev, 1, FEAT(VIRTIO_F_VERSION_1) >> 32);
	virtio_device_set_status(&vdev, STATUS_FEATURES_OK);
	ck_assert_uint_eq(virtio_device_get_status(&vdev), STATUS_FEATURES_OK);
	teardown();
}
END_TEST

START_TEST(status_bits_only_added)
{
	setup();
	negotiate(FEAT(VIRTIO_F_VERSION_1));
	virtio_device_set_status(&vdev, VIRTIO_STATUS_ACKNOWLEDGE);
	ck_assert_uint_eq(virtio_device_get_status(&vdev), STATUS_FEATURES_OK);
	/* NEEDS_RESET is not the driver's to set. */
	virtio_device_set_status(&vdev, STATUS_FEATURES_OK | VIRTIO_STATUS_NEEDS_RESET);
	ck_assert_uint_eq(virtio_device_get_status(&vdev), STATUS_FEATURES_OK);
	teardown();
}
END_TEST

START_TEST(driver_ok_without_features_ok)
{
	setup();
	layout_queue(0, true);
	virtio_device_set_status(&vdev, VIRTIO_STATUS_ACKNOWLEDGE |
						VIRTIO_STATUS_DRIVER |
						VIRTIO_STATUS_DRIVER_OK);
	ck_assert_uint_eq(virtio_device_get_status(&vdev),
			  VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	ck_assert_uint_eq(activations, 0);
	ck_assert(!virtq_started(vdev.queues[0]));
	teardown();
}
END_TEST

START_TEST(driver_ok_activates)
{
	setup();
	negotiate(FEAT(VIRTIO_F_VERSION_1));
	layout_queue(0, true);
	layout_queue(1, false);
	virtio_device_set_status(&vdev, STATUS_RUNNING);
	ck_assert_uint_eq(virtio_device_get_status(&vdev), STATUS_RUNNING);
	ck_assert_uint_eq(activations, 1);
	ck_assert(vdev.active);
	ck_assert(virtq_started(vdev.queues[0]));
	ck_assert(!virtq_started(vdev.queues[1]));

	virtio_device_set_status(&vdev, 0);
	ck_assert_uint_eq(resets, 1);
	ck_assert_uint_eq(virtio_device_get_status(&vdev), 0);
	ck_assert_uint_eq(vdev.features, 0);
	ck_assert(!vdev.active);
	ck_assert(!virtq_started(vdev.queues[0]));
	ck_assert(!virtq_layout(vdev.queues[0])->enabled);
	ck_assert_uint_eq(virtq_layout(vdev.queues[0])->size, 64);
	/* A reset of a device that was never activated does not call the model. */
	virtio_device_reset(&vdev);
	ck_assert_uint_eq(resets, 1);
	teardown();
}
END_TEST

START_TEST(driver_ok_bad_queue)
{
	setup();
	negotiate(FEAT(VIRTIO_F_VERSION_1));
	layout_queue(0, true);
	virtq_layout(vdev.queues[0])->desc = 64 * MiB; /* outside RAM */
	virtio_device_set_status(&vdev, STATUS_RUNNING);
	ck_assert_uint_eq(virtio_device_get_status(&vdev),
			  STATUS_RUNNING | VIRTIO_STATUS_NEEDS_RESET);
	ck_assert_uint_eq(activations, 0);
	ck_assert_uint_eq(config_irqs, 1);
	virtio_device_set_status(&vdev, 0);
	ck_assert_uint_eq(resets, 0);
	ck_assert_uint_eq(virtio_device_get_status(&vdev), 0);
	teardown();
}
END_TEST

START_TEST(driver_ok_activate_fails)
{
	setup();
	activate_result = -ENOMEM;
	negotiate(FEAT(VIRTIO_F_VERSION_1));
	layout_queue(0, true);
	virtio_device_set_status(&vdev, STATUS_RUNNING);
	ck_assert_uint_eq(virtio_device_get_status(&vdev),
			  STATUS_RUNNING | VIRTIO_STATUS_NEEDS_RESET);
	ck_assert(!vdev.active);
	teardown();
}
END_TEST

START_TEST(needs_reset_notifies_once)
{
	setup();
	negotiate(FEAT(VIRTIO_F_VERSION_1));
	/* Before DRIVER_OK: the bit, but no interrupt. */
	virtio_device_needs_reset(&vdev, "test %d", 1);
	ck_assert(virtio_device_get_status(&vdev) & VIRTIO_STATUS_NEEDS_RESET);
	ck_assert_uint_eq(config_irqs, 0);
	virtio_device_set_status(&vdev, 0);

	negotiate(FEAT(VIRTIO_F_VERSION_1));
	virtio_device_set_status(&vdev, STATUS_RUNNING);
	virtio_device_needs_reset(&vdev, "test %d", 2);
	virtio_device_needs_reset(&vdev, "test %d", 3);
	ck_assert_uint_eq(config_irqs, 1);
	/* A driver that sees NEEDS_RESET may not go on. */
	virtio_device_set_status(&vdev, STATUS_RUNNING | VIRTIO_STATUS_FAILED);
	ck_assert(virtio_device_get_status(&vdev) & VIRTIO_STATUS_NEEDS_RESET);
	teardown();
}
END_TEST

START_TEST(config_generation)
{
	uint8_t buf[8];
	uint8_t g0;

	setup();
	g0 = virtio_device_config_generation(&vdev);
	virtio_device_config_read(&vdev, 0, buf, 4);
	ck_assert_uint_eq(virtio_device_config_generation(&vdev), g0);
	ck_assert_uint_eq(buf[3], 4);

	/* A change bumps the generation at the next config read, once. */
	config[0] = 9;
	virtio_config_changed(&vdev);
	ck_assert_uint_eq(config_irqs, 0); /* not before DRIVER_OK */
	virtio_device_config_read(&vdev, 0, buf, 1);
	ck_assert_uint_eq(buf[0], 9);
	ck_assert_uint_eq(virtio_device_config_generation(&vdev), (uint8_t)(g0 + 1));
	virtio_device_config_read(&vdev, 0, buf, 1);
	ck_assert_uint_eq(virtio_device_config_generation(&vdev), (uint8_t)(g0 + 1));

	/* Past the end reads zeros; a straddling read gets the part inside. */
	memset(buf, 0xee, sizeof(buf));
	virtio_device_config_read(&vdev, 6, buf, 4);
	ck_assert_uint_eq(buf[0], 7);
	ck_assert_uint_eq(buf[1], 8);
	ck_assert_uint_eq(buf[2], 0);
	virtio_device_config_read(&vdev, 100, buf, 4);
	ck_assert_uint_eq(buf[0], 0);

	negotiate(FEAT(VIRTIO_F_VERSION_1));
	virtio_device_set_status(&vdev, STATUS_RUNNING);
	virtio_config_changed(&vdev);
	ck_assert_uint_eq(config_irqs, 1);
	teardown();
}
END_TEST

/*
 * Status bits the spec does not define (0x10, 0x20) are not kept, so every
 * status a driver can leave saves and loads. (Found by the virtio-pci fuzz
 * target: a driver wrote 0xfc to a reset device, which kept 0xb0, and the state loader
 * refused its own device's state as corrupt.)
 */
START_TEST(status_reserved_bits_dropped)
{
	setup();
	virtio_device_set_status(&vdev, VIRTIO_STATUS_ACKNOWLEDGE | 0x30);
	ck_assert_uint_eq(virtio_device_get_status(&vdev), VIRTIO_STATUS_ACKNOWLEDGE);
	virtio_device_set_status(&vdev, 0xfd);
	ck_assert_uint_eq(virtio_device_get_status(&vdev),
			  VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_FAILED);
	ck_assert(virtio_save_reset_load(&vdev, virtio_device_reset));
	ck_assert_uint_eq(virtio_device_get_status(&vdev),
			  VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_FAILED);
	/* Reserved bits alone are no reset. */
	virtio_device_set_status(&vdev, 0x10);
	ck_assert_uint_eq(virtio_device_get_status(&vdev),
			  VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_FAILED);
	teardown();
}
END_TEST

/*
 * A running device the driver then marked FAILED, or that a broken ring
 * put in NEEDS_RESET, keeps its queues started and its model running, so
 * its state loads and the model runs again. (Found by the virtio-pci
 * fuzz target: a driver wrote 0xff to a running device's status through
 * the PCI configuration access capability, and the loader refused the
 * started queue: "queue 0 runs without DRIVER_OK".)
 */
START_TEST(failed_or_needs_reset_after_driver_ok_loads)
{
	const uint8_t failed = STATUS_RUNNING | VIRTIO_STATUS_FAILED;
	const uint8_t broken = STATUS_RUNNING | VIRTIO_STATUS_NEEDS_RESET;

	setup();
	negotiate(FEAT(VIRTIO_F_VERSION_1));
	layout_queue(0, true);
	virtio_device_set_status(&vdev, STATUS_RUNNING);
	virtio_device_set_status(&vdev, 0xff);
	ck_assert_uint_eq(virtio_device_get_status(&vdev), failed);
	ck_assert(virtq_started(vdev.queues[0]));
	ck_assert(virtio_save_reset_load(&vdev, virtio_device_reset));
	ck_assert_uint_eq(virtio_device_get_status(&vdev), failed);
	ck_assert(virtq_started(vdev.queues[0]));
	ck_assert_int_eq(vdev.activate_pending, VIRTIO_ACTIVATE_MODEL);
	virtio_device_set_status(&vdev, 0);

	negotiate(FEAT(VIRTIO_F_VERSION_1));
	layout_queue(0, true);
	virtio_device_set_status(&vdev, STATUS_RUNNING);
	virtio_device_needs_reset(&vdev, "a broken ring");
	ck_assert(virtio_save_reset_load(&vdev, virtio_device_reset));
	ck_assert_uint_eq(virtio_device_get_status(&vdev), broken);
	ck_assert(virtq_started(vdev.queues[0]));
	ck_assert_int_eq(vdev.activate_pending, VIRTIO_ACTIVATE_MODEL);
	virtio_device_set_status(&vdev, 0);

	/* DRIVER_OK refused at once (a ring outside RAM): nothing runs. */
	negotiate(FEAT(VIRTIO_F_VERSION_1));
	layout_queue(0, true);
	virtq_layout(vdev.queues[0])->desc = 64 * MiB;
	virtio_device_set_status(&vdev, STATUS_RUNNING);
	ck_assert(virtio_save_reset_load(&vdev, virtio_device_reset));
	ck_assert_uint_eq(virtio_device_get_status(&vdev), broken);
	ck_assert(!virtq_started(vdev.queues[0]));
	ck_assert_int_eq(vdev.activate_pending, VIRTIO_ACTIVATE_NONE);
	virtio_device_set_status(&vdev, 0);

	/*
	 * Queue 0 starts, queue 1 cannot, or the model cannot: no queue
	 * stays started (the driver still reads its registers back), so the
	 * state says the model never ran.
	 */
	for (int model_fails = 0; model_fails < 2; model_fails++) {
		activate_result = model_fails ? -ENOMEM : 0;
		negotiate(FEAT(VIRTIO_F_VERSION_1));
		layout_queue(0, true);
		layout_queue(1, !model_fails);
		if (!model_fails)
			virtq_layout(vdev.queues[1])->desc = 64 * MiB;
		virtio_device_set_status(&vdev, STATUS_RUNNING);
		ck_assert_uint_eq(virtio_device_get_status(&vdev), broken);
		ck_assert(!virtq_started(vdev.queues[0]));
		ck_assert(virtq_layout(vdev.queues[0])->enabled);
		ck_assert(virtio_save_reset_load(&vdev, virtio_device_reset));
		ck_assert_int_eq(vdev.activate_pending, VIRTIO_ACTIVATE_NONE);
		virtio_device_set_status(&vdev, 0);
	}
	ck_assert_uint_eq(activations, 3);
	teardown();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("virtio");

	UNIT_TCASE(s, "features", features_offered, features_negotiated,
		   features_ok_needs_version_1);
	UNIT_TCASE(s, "status", status_bits_only_added, driver_ok_without_features_ok,
		   driver_ok_activates, driver_ok_bad_queue, driver_ok_activate_fails,
		   needs_reset_notifies_once, status_reserved_bits_dropped,
		   failed_or_needs_reset_after_driver_ok_loads);
	UNIT_TCASE(s, "config", config_generation);
	return unit_run(s);
}

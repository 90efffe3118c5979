// SPDX-License-Identifier: MIT
/*
 * The passed-through function's MSI capability, virtualized as QEMU's
 * vfio-pci does: the guest sees the host's capability (64-bit addresses
 * and per-vector masking as the host has them, as many vectors as VFIO
 * offers) in tern's config space, and its writes never reach the
 * hardware's: vfio-pci programs the real capability itself when tern hands
 * it eventfds with VFIO_DEVICE_SET_IRQS on VFIO_PCI_MSI_IRQ_INDEX.
 *
 * Each vector has an eventfd and a GSI (the core's, pci_msi_gsis_init).
 * While MSI is on and the vector unmasked, the eventfd is bound with
 * irqfd to the GSI, routed to the guest's address and data: an interrupt
 * goes from vfio-pci to KVM without tern. vfio-pci's MSI has no mask
 * operation and QEMU passes no per-vector mask to the host either; tern
 * emulates masking as it does for MSI-X: a masked vector's irqfd is
 * unbound, its messages wait in the eventfd counter (its pending bit),
 * and unmasking sends one.
 *
 * vfio-pci has one interrupt type at a time: setting the MSI enable turns
 * MSI-X and INTx off at VFIO (the enable set last wins, as in QEMU);
 * clearing it falls back to MSI-X if the guest still has that enabled,
 * else INTx (vfio_irqs_fallback). Everything here runs under the PCI
 * host's cfg_lock (config cycles) or with the VM stopped (reset, exit).
 */
#include <errno.h>
#include <unistd.h>

#include "tern/error.h"
#include "tern/eventfd.h"
#include "tern/le.h"
#include "vfio_internal.h"

static bool msi_64bit(const struct vfio_device *v)
{
	return v->msi_flags & PCI_MSI_FLAGS_64BIT;
}

static bool msi_maskbit(const struct vfio_device *v)
{
	return v->msi_flags & PCI_MSI_FLAGS_MASKBIT;
}

/* Offsets in the capability of message data, mask bits, pending bits. */
static unsigned int msi_data_off(const struct vfio_device *v)
{
	return msi_64bit(v) ? 12 : 8;
}

static unsigned int msi_mask_off(const struct vfio_device *v)
{
	return msi_64bit(v) ? 16 : 12;
}

static unsigned int msi_log2(unsigned int n)
{
	return g_bit_storage(n) - 1;
}

bool vfio_msi_scan(struct vfio_device *v, unsigned int off, GError **err)
{
	const uint8_t *cfg = v->host_cfg;
	struct vfio_irq_info irq = {.argsz = sizeof(irq),
				    .index = VFIO_PCI_MSI_IRQ_INDEX};
	uint16_t flags = le_get(cfg + off + PCI_MSI_FLAGS, 2);
	unsigned int len = 10;
	int ret;

	if (flags & PCI_MSI_FLAGS_64BIT)
		len += 4;
	if (flags & PCI_MSI_FLAGS_MASKBIT)
		len += 10;
	if (off + len > PCI_CFG_SIZE) {
		vfio_error(v, err,
			   "MSI capability at 0x%x (%u bytes) runs past config "
			   "space",
			   off, len);
		return false;
	}
	ret = v->host->ioctl(v->ctx, v->device, VFIO_DEVICE_GET_IRQ_INFO, &irq);
	if (ret < 0 || !(irq.flags & VFIO_IRQ_INFO_EVENTFD) || !irq.count ||
	    irq.count > VFIO_MSI_MAX_VECTORS) {
		vfio_error(v, err,
			   "the function has an MSI capability but VFIO "
			   "offers %u MSI vectors%s (1 to %u expected)",
			   ret < 0 ? 0 : irq.count,
			   ret < 0 ? " (GET_IRQ_INFO failed)"
			   : !(irq.flags & VFIO_IRQ_INFO_EVENTFD)
			       ? " without eventfds"
			       : "",
			   VFIO_MSI_MAX_VECTORS);
		return false;
	}
	v->msi_host_cap = (uint8_t)off;
	v->msi_len = (uint8_t)len;
	v->msi_flags = flags & (PCI_MSI_FLAGS_64BIT | PCI_MSI_FLAGS_MASKBIT);
	/* MSI vector counts are powers of two: what the guest can enable. */
	v->msi_nvec = 1U << msi_log2(irq.count);
	return true;
}

bool vfio_msi_build(struct vfio_device *v, GError **err)
{
	uint8_t cap[24] = {PCI_CAP_ID_MSI};
	unsigned int c;
	int off, ret;

	le_put(cap + PCI_MSI_FLAGS, v->msi_flags | msi_log2(v->msi_nvec) << 1,
	       2);
	off = pci_device_add_capability(v->pci, cap, v->msi_len);
	if (off < 0) {
		vfio_error(v, err, "no room for the MSI capability");
		return false;
	}
	c = (unsigned int)off;
	v->msi_guest_cap = (uint8_t)c;
	/* What the guest may write; the rest (and pending) is read-only. */
	pci_config_set_wmask(v->pci, c + PCI_MSI_FLAGS,
			     PCI_MSI_FLAGS_ENABLE | PCI_MSI_FLAGS_QSIZE, 2);
	pci_config_set_wmask(v->pci, c + PCI_MSI_ADDRESS_LO, 0xfffffffcU, 4);
	if (msi_64bit(v))
		pci_config_set_wmask(v->pci, c + PCI_MSI_ADDRESS_LO + 4,
				     0xffffffffU, 4);
	pci_config_set_wmask(v->pci, c + msi_data_off(v), 0xffff, 2);
	if (msi_maskbit(v))
		pci_config_set_wmask(v->pci, c + msi_mask_off(v),
				     (uint32_t)((1ULL << v->msi_nvec) - 1), 4);
	ret = pci_msi_gsis_init(v->pci, v->msi_nvec);
	if (ret) {
		vfio_error(v, err, "MSI with %u vectors: %s", v->msi_nvec,
			   g_strerror(-ret));
		return false;
	}
	/* Every eventfd now: none is created once the guest runs. */
	for (unsigned int i = 0; i < v->msi_nvec; i++) {
		v->msi_fd[i] = efd_new();
		if (v->msi_fd[i] < 0) {
			vfio_error(v, err, "MSI eventfd: %s",
				   g_strerror(-v->msi_fd[i]));
			return false;
		}
	}
	return true;
}

/* The vectors the guest enabled (multiple message enable), clamped. */
static unsigned int msi_guest_nvec(struct vfio_device *v)
{
	unsigned int c = v->msi_guest_cap + PCI_MSI_FLAGS;
	uint16_t ctrl = pci_config_get(v->pci, c, 2);
	unsigned int mme = (ctrl & PCI_MSI_FLAGS_QSIZE) >> 4;
	unsigned int mmc = msi_log2(v->msi_nvec);

	if (mme > mmc) {
		/* As QEMU: more than the function has is what it has. */
		ctrl = (ctrl & ~PCI_MSI_FLAGS_QSIZE) | mmc << 4;
		pci_config_set(v->pci, c, ctrl, 2);
		mme = mmc;
	}
	return 1U << mme;
}

static bool msi_masked(const struct vfio_device *v, unsigned int i)
{
	return msi_maskbit(v) &&
	       (pci_config_get(v->pci, v->msi_guest_cap + msi_mask_off(v), 4) >>
		i) &
		   1;
}

/* Vector i's message: with n vectors, its number in the low data bits. */
static void msi_message(const struct vfio_device *v, unsigned int i,
			uint64_t *addr, uint32_t *data)
{
	unsigned int c = v->msi_guest_cap;

	*addr = pci_config_get(v->pci, c + PCI_MSI_ADDRESS_LO, 4);
	if (msi_64bit(v))
		*addr |= (uint64_t)pci_config_get(v->pci,
						  c + PCI_MSI_ADDRESS_LO + 4, 4)
			 << 32;
	*data = pci_config_get(v->pci, c + msi_data_off(v), 2);
	if (v->msi_active > 1)
		*data = (*data & ~(v->msi_active - 1)) | i;
}

/*
 * Bring vector i's route and irqfd in line with the capability. A vector
 * is bound only to a route KVM has (a stale one would deliver the old
 * message); messages while it is not bound wait in its eventfd.
 */
static void msi_update_vector(struct vfio_device *v, unsigned int i)
{
	const struct machine *m = v->m;
	uint32_t gsi = pci_msi_gsi(v->pci, i);
	bool want = i < v->msi_active && !msi_masked(v, i);
	int ret;

	if (want) {
		uint64_t addr;
		uint32_t data;

		msi_message(v, i, &addr, &data);
		want = pci_msi_gsi_route(v->pci, i, true, addr, data);
	}
	if (want && !v->msi_live[i]) {
		bool pending = efd_drain(v->msi_fd[i]);

		ret = m->ops->irqfd(m->opaque, v->msi_fd[i], gsi, true);
		if (ret)
			tern_warn("vfio %s: MSI vector %u: cannot bind irqfd "
				  "(its messages stay pending): %s",
				  v->cfg->addr, i, g_strerror(-ret));
		else
			v->msi_live[i] = true;
		if (pending)
			efd_signal(v->msi_fd[i]);
	} else if (!want && v->msi_live[i]) {
		ret = m->ops->irqfd(m->opaque, v->msi_fd[i], gsi, false);
		if (ret)
			tern_warn(
			    "vfio %s: MSI vector %u: cannot unbind irqfd: "
			    "%s",
			    v->cfg->addr, i, g_strerror(-ret));
		if (!ret || ret == -ENOENT)
			v->msi_live[i] = false;
	}
	/* A masked vector keeps its route; one not enabled has none. */
	if (i >= v->msi_active)
		(void)pci_msi_gsi_route(v->pci, i, false, 0, 0);
}

int vfio_msi_enable(struct vfio_device *v)
{
	unsigned int n = msi_guest_nvec(v);
	int32_t fds[VFIO_MSI_MAX_VECTORS];
	int ret;

	v->msi_active = n;
	for (unsigned int i = 0; i < v->msi_nvec; i++) {
		/* Nothing from before this enable is the guest's. */
		efd_drain(v->msi_fd[i]);
		msi_update_vector(v, i);
	}
	for (unsigned int i = 0; i < n; i++)
		fds[i] = v->msi_fd[i];
	ret = vfio_set_irqs(v, VFIO_PCI_MSI_IRQ_INDEX,
			    VFIO_IRQ_SET_ACTION_TRIGGER, n, fds);
	if (ret < 0) {
		/* As QEMU: no interrupts, and the guest may fall back. */
		tern_warn("vfio %s: VFIO_DEVICE_SET_IRQS (MSI, %u vectors): %s",
			  v->cfg->addr, n, g_strerror(-ret));
		v->msi_active = 0;
		for (unsigned int i = 0; i < v->msi_nvec; i++)
			msi_update_vector(v, i);
		return ret;
	}
	return 0;
}

void vfio_msi_host_off(struct vfio_device *v)
{
	int ret;

	if (!v->msi_active)
		return;
	ret = vfio_set_irqs(v, VFIO_PCI_MSI_IRQ_INDEX,
			    VFIO_IRQ_SET_ACTION_TRIGGER, 0, NULL);
	if (ret < 0)
		tern_warn("vfio %s: turning MSI off: %s", v->cfg->addr,
			  g_strerror(-ret));
	v->msi_active = 0;
	for (unsigned int i = 0; i < v->msi_nvec; i++) {
		msi_update_vector(v, i);
		efd_drain(v->msi_fd[i]);
	}
}

void vfio_msi_config_write(struct vfio_device *v, unsigned int off,
			   unsigned int len)
{
	unsigned int c = v->msi_guest_cap, n;
	bool on;

	if (!v->msi_nvec || off >= c + v->msi_len || c >= off + len)
		return;
	n = msi_guest_nvec(v);
	on =
	    pci_config_get(v->pci, c + PCI_MSI_FLAGS, 2) & PCI_MSI_FLAGS_ENABLE;
	if (on != v->msi_guest) {
		v->msi_guest = on;
		if (on) {
			vfio_msix_host_off(v);
			vfio_intx_disable(v);
			(void)vfio_msi_enable(v);
		} else {
			vfio_msi_host_off(v);
			vfio_irqs_fallback(v);
		}
		return;
	}
	/* Enabled but not at VFIO: MSI-X took over, or VFIO refused. */
	if (!v->msi_active)
		return;
	if (n != v->msi_active) {
		/* vfio-pci takes a new vector count only after "off". */
		vfio_msi_host_off(v);
		(void)vfio_msi_enable(v);
		return;
	}
	for (unsigned int i = 0; i < v->msi_nvec; i++)
		msi_update_vector(v, i);
}

void vfio_msi_config_read(struct vfio_device *v, unsigned int off,
			  uint8_t *data, unsigned int len)
{
	unsigned int p = v->msi_guest_cap + msi_mask_off(v) + 4;
	uint32_t pending = 0;

	if (!v->msi_nvec || !msi_maskbit(v) || off >= p + 4 || p >= off + len)
		return;
	/* Not bound (masked, or KVM refused) with a message waiting. */
	for (unsigned int i = 0; i < v->msi_active; i++)
		if (!v->msi_live[i] && efd_pending(v->msi_fd[i]))
			pending |= 1U << i;
	for (unsigned int i = 0; i < len; i++)
		if (off + i >= p && off + i < p + 4)
			data[i] = (uint8_t)(pending >> (8 * (off + i - p)));
}

void vfio_msi_release(struct vfio_device *v)
{
	for (unsigned int i = 0; i < VFIO_MSI_MAX_VECTORS; i++) {
		if (v->msi_fd[i] >= 0)
			close(v->msi_fd[i]);
		v->msi_fd[i] = -1;
	}
}

// SPDX-License-Identifier: MIT
/*
 * Post-copy on the destination: guest RAM registered with userfaultfd in
 * missing mode, so any thread that touches a page not yet here (a vCPU
 * through KVM, an I/O thread reading a virtqueue, the kernel filling an
 * io_uring buffer, the main thread loading device state) sleeps in the
 * kernel until the page is installed. The fault thread reads those faults
 * and asks the source for the page over the return path; the receiving
 * thread installs pages with UFFDIO_COPY / UFFDIO_ZEROPAGE, which wakes
 * the sleepers. Neither of the two ever touches guest RAM itself, and
 * neither waits for any other thread, so a device touching a missing page
 * cannot deadlock: it only waits for the network.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tern/error.h"
#include "tern/eventfd.h"
#include "tern/vm.h"
#include "dest.h"

#define PC_FAULTS_PER_READ 64
/* Pages asked for after a faulting one: guests touch memory in runs. */
#define PC_READAHEAD 7

struct mig_postcopy {
	struct mig_in *in;
	int uffd;
	int stop_efd;
	struct mig_job job; /* the fault thread */
	bool thread_live;
	/* Guards requested and the sends of requests (not m->lock: a send may wait). */
	pthread_mutex_t lock;
	struct mig_bitmap requested;
	uint8_t *zero;
};

int mig_postcopy_open_uffd(void)
{
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);

#ifdef USERFAULTFD_IOC_NEW
	/* Where the syscall is restricted, the device may still be there. */
	if (fd < 0) {
		int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);

		if (dev >= 0) {
			fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
			close(dev);
		}
	}
#endif
	return fd < 0 ? -errno : fd;
}

/* The requests for [gpa, gpa + n pages) not here and not asked yet. */
static void pc_request(struct mig_postcopy *pc, unsigned int r, uint64_t page)
{
	struct mig_in *in = pc->in;
	uint8_t req[16];
	uint64_t n = 0;
	int ret;

	pthread_mutex_lock(&pc->lock);
	while (n <= PC_READAHEAD && page + n < pc->requested.pages[r] &&
	       !mig_bitmap_test_atomic(&in->received, r, page + n) &&
	       !mig_bitmap_test(&pc->requested, r, page + n)) {
		mig_bitmap_set_range(&pc->requested,
				     pc->requested.gpa[r] +
					     ((page + n) << GUEST_PAGE_SHIFT),
				     GUEST_PAGE_SIZE, true);
		n++;
	}
	if (n) {
		uint64_t gpa = pc->requested.gpa[r] + (page << GUEST_PAGE_SHIFT);

		*(uint64_t *)req = GUINT64_TO_LE(gpa);
		*(uint32_t *)(req + 8) = GUINT32_TO_LE((uint32_t)n);
		*(uint32_t *)(req + 12) = 0;
		/* No link (paused): the resend after recovery asks again. */
		pthread_mutex_lock(&in->m->lock);
		if (in->ch)
			ret = mig_chan_send_buf(in->ch, MIG_RP_REQUEST, req, sizeof(req));
		else
			ret = -ENOTCONN;
		pthread_mutex_unlock(&in->m->lock);
		(void)ret;
	}
	pthread_mutex_unlock(&pc->lock);
}

static void pc_fault(struct mig_postcopy *pc, uint64_t addr)
{
	struct vm *vm = pc->in->vm;

	addr &= ~(GUEST_PAGE_SIZE - 1);
	for (unsigned int r = 0; r < vm->mem.nr_regions; r++) {
		const struct guest_region *g = &vm->mem.regions[r];
		uint64_t base = (uintptr_t)g->hva, page;

		if (addr < base || addr - base >= g->size)
			continue;
		page = (addr - base) >> GUEST_PAGE_SHIFT;
		if (mig_bitmap_test_atomic(&pc->in->received, r, page)) {
			/* Installed meanwhile: make sure the sleeper wakes. */
			struct uffdio_range range = { addr, GUEST_PAGE_SIZE };

			(void)ioctl(pc->uffd, UFFDIO_WAKE, &range);
			return;
		}
		pc_request(pc, r, page);
		return;
	}
}

static void *pc_thread(void *opaque)
{
	struct mig_postcopy *pc = opaque;
	struct uffd_msg msg[PC_FAULTS_PER_READ];
	struct pollfd p[2] = { { pc->uffd, POLLIN, 0 }, { pc->stop_efd, POLLIN, 0 } };

	for (;;) {
		ssize_t n;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		n = read(pc->uffd, msg, sizeof(msg));
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			break;
		for (size_t i = 0; i < (size_t)n / sizeof(msg[0]); i++)
			if (msg[i].event == UFFD_EVENT_PAGEFAULT)
				pc_fault(pc, msg[i].arg.pagefault.address);
	}
	return NULL;
}

/*
 * Every page not received must be missing, or the guest would read it as
 * zero without a fault: a transparent huge page filled in around pages
 * that did arrive holds such pages. No more huge pages until the end.
 */
static bool pc_discard_missing(struct mig_postcopy *pc, GError **err)
{
	struct mig_in *in = pc->in;
	struct vm *vm = in->vm;

	for (unsigned int r = 0; r < vm->mem.nr_regions; r++) {
		const struct guest_region *g = &vm->mem.regions[r];

		if (g->fd < 0)
			(void)madvise(g->hva, g->size, MADV_NOHUGEPAGE);
		for (uint64_t p = 0; p < in->received.pages[r]; p++) {
			uint64_t start = p;

			if (mig_bitmap_test(&in->received, r, p))
				continue;
			while (p + 1 < in->received.pages[r] &&
			       !mig_bitmap_test(&in->received, r, p + 1))
				p++;
			if (mig_ram_discard(vm, g->gpa + (start << GUEST_PAGE_SHIFT),
					    (p - start + 1) << GUEST_PAGE_SHIFT)) {
				g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
					    "cannot drop the pages not received: %s",
					    g_strerror(errno));
				return false;
			}
		}
	}
	return true;
}

static bool pc_register(struct mig_postcopy *pc, GError **err)
{
	struct vm *vm = pc->in->vm;
	struct uffdio_api api = { .api = UFFD_API };
	int ret;

	if (vm->mem.fd >= 0)
		api.features = UFFD_FEATURE_MISSING_SHMEM;
	if (ioctl(pc->uffd, UFFDIO_API, &api) < 0) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "userfaultfd: UFFDIO_API: %s%s", g_strerror(errno),
			    vm->mem.fd >= 0 ? " (missing faults on shared memory?)" : "");
		return false;
	}
	for (unsigned int i = 0; i < vm->mem.nr_regions; i++) {
		const struct guest_region *g = &vm->mem.regions[i];
		struct uffdio_register reg = {
			.range = { (uintptr_t)g->hva, g->size },
			.mode = UFFDIO_REGISTER_MODE_MISSING,
		};

		ret = ioctl(pc->uffd, UFFDIO_REGISTER, &reg);
		if (ret < 0 || !(reg.ioctls & (1ULL << _UFFDIO_COPY))) {
			g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
				    "userfaultfd: cannot register guest RAM: %s",
				    ret < 0 ? g_strerror(errno) : "no UFFDIO_COPY");
			return false;
		}
	}
	return true;
}

struct mig_postcopy *mig_postcopy_listen(struct mig_in *in, GError **err)
{
	struct mig_postcopy *pc = g_new0(struct mig_postcopy, 1);
	int ret;

	pc->in = in;
	pc->stop_efd = efd_new();
	pthread_mutex_init(&pc->lock, NULL);
	mig_bitmap_init(&pc->requested, &in->vm->mem);
	pc->zero = g_malloc0(GUEST_PAGE_SIZE * 64);
	/* Opened at set-up (mig_in_new): this thread may not make one. */
	pc->uffd = in->uffd;
	in->uffd = -EBADF;
	if (pc->uffd < 0) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "post-copy needs userfaultfd: %s (root, or vm.unprivileged_userfaultfd=1)",
			    g_strerror(-pc->uffd));
		goto fail;
	}
	if (!pc_discard_missing(pc, err) || !pc_register(pc, err))
		goto fail;
	ret = mig_job_start(&in->m->workers, &pc->job, pc_thread, pc);
	if (ret) {
		g_set_error(err, TERN_ERROR, TERN_ERROR_HOST,
			    "cannot start the fault thread: %s", g_strerror(-ret));
		goto fail;
	}
	pc->thread_live = true;
	return pc;
fail:
	mig_postcopy_end(pc);
	return NULL;
}

/* Install n pages at hva: copies from data, or zero pages. */
static int pc_fill(struct mig_postcopy *pc, uint64_t hva, const uint8_t *data,
		   uint64_t n)
{
	uint64_t len = n << GUEST_PAGE_SHIFT, done = 0;

	while (done < len) {
		int ret;

		if (data) {
			struct uffdio_copy c = { .dst = hva + done,
						 .src = (uintptr_t)data + done,
						 .len = len - done };

			ret = ioctl(pc->uffd, UFFDIO_COPY, &c);
			if (c.copy > 0)
				done += (uint64_t)c.copy;
		} else {
			struct uffdio_zeropage z = { .range = { hva + done, len - done } };

			ret = ioctl(pc->uffd, UFFDIO_ZEROPAGE, &z);
			if (ret < 0 && errno == EINVAL) {
				/* No zero pages on this memory: copy zeros. */
				struct uffdio_copy c = {
					.dst = hva + done,
					.src = (uintptr_t)pc->zero,
					.len = MIN(len - done, GUEST_PAGE_SIZE * 64),
				};

				ret = ioctl(pc->uffd, UFFDIO_COPY, &c);
				if (c.copy > 0)
					done += (uint64_t)c.copy;
			} else if (z.zeropage > 0) {
				done += (uint64_t)z.zeropage;
			}
		}
		if (ret == 0)
			break;
		/* Already there (cannot happen twice from us): fine. */
		if (errno == EEXIST)
			return 0;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
	}
	return 0;
}

int mig_postcopy_install(struct mig_postcopy *pc, uint64_t gpa,
			 const uint8_t *data, uint32_t npages)
{
	struct mig_in *in = pc->in;
	unsigned int r;
	uint64_t first, base;

	if (!mig_bitmap_find(&in->received, gpa, &r, &first))
		return -EFAULT;
	base = (uintptr_t)in->vm->mem.regions[r].hva;
	for (uint64_t i = 0; i < npages;) {
		uint64_t run = 0;
		int ret;

		if (mig_bitmap_test(&in->received, r, first + i)) {
			i++;
			continue;
		}
		while (i + run < npages &&
		       !mig_bitmap_test(&in->received, r, first + i + run))
			run++;
		ret = pc_fill(pc, base + ((first + i) << GUEST_PAGE_SHIFT),
			      data ? data + (i << GUEST_PAGE_SHIFT) : NULL, run);
		if (ret)
			return ret;
		/* After the install: a fault that sees the bit finds the page. */
		for (uint64_t k = 0; k < run; k++)
			mig_bitmap_set_atomic(&in->received, r, first + i + k);
		i += run;
	}
	return 0;
}

void mig_postcopy_resend(struct mig_postcopy *pc)
{
	struct mig_in *in = pc->in;

	pthread_mutex_lock(&pc->lock);
	for (unsigned int r = 0; r < pc->requested.nr; r++) {
		for (uint64_t p = 0; p < pc->requested.pages[r]; p++) {
			if (!mig_bitmap_test(&pc->requested, r, p) ||
			    mig_bitmap_test_atomic(&in->received, r, p))
				continue;
			/* Asked before the break: ask again. */
			mig_bitmap_set_range(&pc->requested,
					     pc->requested.gpa[r] + (p << GUEST_PAGE_SHIFT),
					     GUEST_PAGE_SIZE, false);
			pthread_mutex_unlock(&pc->lock);
			pc_request(pc, r, p);
			pthread_mutex_lock(&pc->lock);
		}
	}
	pthread_mutex_unlock(&pc->lock);
}

void mig_postcopy_end(struct mig_postcopy *pc)
{
	struct vm *vm = pc->in->vm;

	if (pc->thread_live) {
		efd_signal(pc->stop_efd);
		mig_job_join(&pc->in->m->workers, &pc->job);
	}
	if (pc->uffd >= 0) {
		for (unsigned int i = 0; i < vm->mem.nr_regions; i++) {
			struct uffdio_range range = {
				(uintptr_t)vm->mem.regions[i].hva,
				vm->mem.regions[i].size,
			};

			(void)ioctl(pc->uffd, UFFDIO_UNREGISTER, &range);
			if (vm->mem.regions[i].fd < 0)
				(void)madvise(vm->mem.regions[i].hva,
					      vm->mem.regions[i].size, MADV_HUGEPAGE);
		}
		close(pc->uffd);
	}
	close(pc->stop_efd);
	mig_bitmap_free(&pc->requested);
	pthread_mutex_destroy(&pc->lock);
	g_free(pc->zero);
	g_free(pc);
}

// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers for vgpu.ko where the Rust abstractions of 7.2 stop: inline
 * functions and macros that have no rust_helper_* export.
 */
#include <linux/capability.h>
#include <linux/dma-mapping.h>
#include <linux/fs.h>
#include <linux/mnt_idmapping.h>
#include <linux/mount.h>
#include <linux/namei.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/slab.h>
#include <linux/pci.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/scatterlist.h>
#include <linux/uidgid.h>
#include <asm/barrier.h>

int vgpu_pci_domain(struct pci_dev *pdev);
void vgpu_dma_rmb(void);
void vgpu_dma_mb(void);

int vgpu_pci_domain(struct pci_dev *pdev)
{
	return pci_domain_nr(pdev->bus);
}

/* Orders DMA-coherent loads before later loads (completion entries after cq_tail). */
void vgpu_dma_rmb(void)
{
	dma_rmb();
}

/* Orders DMA-coherent loads before later stores (cq_head after the entries). */
void vgpu_dma_mb(void)
{
	dma_mb();
}

/*
 * Pinned-page accounting, as ib_umem does it: pages pinned long term count
 * against the caller's RLIMIT_MEMLOCK through mm->pinned_vm, unless it has
 * CAP_IPC_LOCK. The mm is grabbed so that the pages are uncharged from the
 * mm that was charged, whoever releases them.
 */
struct mm_struct *vgpu_pin_charge(unsigned long npages);
void vgpu_pin_uncharge(struct mm_struct *mm, unsigned long npages);
unsigned long vgpu_pin_room(void);
unsigned long vgpu_total_ram_pages(void);
unsigned int vgpu_dma_max_segment(struct pci_dev *pdev);
int vgpu_dma_map_sgtable(struct pci_dev *pdev, struct sg_table *sgt, bool to_device);
void vgpu_dma_unmap_sgtable(struct pci_dev *pdev, struct sg_table *sgt, bool to_device);

/* Charges @npages to current->mm; NULL if over the limit (or no mm). */
struct mm_struct *vgpu_pin_charge(unsigned long npages)
{
	struct mm_struct *mm = current->mm;
	unsigned long limit = rlimit(RLIMIT_MEMLOCK) >> PAGE_SHIFT;
	s64 pinned;

	if (!mm)
		return NULL;
	pinned = atomic64_add_return(npages, &mm->pinned_vm);
	if (pinned > limit && !capable(CAP_IPC_LOCK)) {
		atomic64_sub(npages, &mm->pinned_vm);
		return NULL;
	}
	mmgrab(mm);
	return mm;
}

/* Undoes vgpu_pin_charge(). */
void vgpu_pin_uncharge(struct mm_struct *mm, unsigned long npages)
{
	atomic64_sub(npages, &mm->pinned_vm);
	mmdrop(mm);
}

/* Pages current may still pin under RLIMIT_MEMLOCK (ULONG_MAX if unlimited). */
unsigned long vgpu_pin_room(void)
{
	struct mm_struct *mm = current->mm;
	unsigned long limit = rlimit(RLIMIT_MEMLOCK);
	s64 pinned;

	if (!mm)
		return 0;
	if (limit == RLIM_INFINITY || ns_capable_noaudit(&init_user_ns, CAP_IPC_LOCK))
		return ULONG_MAX;
	pinned = atomic64_read(&mm->pinned_vm);
	limit >>= PAGE_SHIFT;
	return pinned >= (s64)limit ? 0 : limit - pinned;
}

/* Pages of RAM the kernel manages (totalram_pages() is an inline). */
unsigned long vgpu_total_ram_pages(void)
{
	return totalram_pages();
}

/* Longest CPU segment worth building: what one mapping and one device segment take. */
unsigned int vgpu_dma_max_segment(struct pci_dev *pdev)
{
	size_t max = min_t(size_t, dma_max_mapping_size(&pdev->dev),
			   dma_get_max_seg_size(&pdev->dev));

	max = min_t(size_t, max, UINT_MAX) & PAGE_MASK;
	return max ? max : PAGE_SIZE;
}

/* @to_device: the device only reads the pages; otherwise it may read and write them. */
int vgpu_dma_map_sgtable(struct pci_dev *pdev, struct sg_table *sgt, bool to_device)
{
	return dma_map_sgtable(&pdev->dev, sgt, to_device ? DMA_TO_DEVICE : DMA_BIDIRECTIONAL, 0);
}

void vgpu_dma_unmap_sgtable(struct pci_dev *pdev, struct sg_table *sgt, bool to_device)
{
	dma_unmap_sgtable(&pdev->dev, sgt, to_device ? DMA_TO_DEVICE : DMA_BIDIRECTIONAL, 0);
}

/*
 * Watches of cached pinnings: whether the user mapping a pinning was made
 * from still maps the pinned pages. With CONFIG_MMU_NOTIFIER an interval
 * notifier marks the watch stale on any invalidation of its range (munmap,
 * mremap, madvise, COW, migration attempts), as RDMA drivers do; the check
 * on reuse is then one atomic read. Without it (kernels with neither KVM
 * nor an IOMMU driver), reuse walks the page tables locklessly and compares
 * them with the pinned pages: correct, and still cheaper than pinning,
 * mapping and unpinning again.
 */
struct vgpu_pin_watch {
	struct mm_struct *mm;
	unsigned long start;
	unsigned long npages;
	atomic_t stale;
#ifdef CONFIG_MMU_NOTIFIER
	struct mmu_interval_notifier notifier;
#endif
};

struct vgpu_pin_watch *vgpu_pin_watch_new(unsigned long start, unsigned long npages);
bool vgpu_pin_watch_valid(struct vgpu_pin_watch *w, struct page **pages, unsigned long first,
			  unsigned long npages, bool writable);
void vgpu_pin_watch_free(struct vgpu_pin_watch *w);
bool vgpu_pin_watch_notified(void);
void vgpu_dma_sync_range(struct pci_dev *pdev, dma_addr_t addr, size_t len, bool to_device,
			 bool for_device);

void *vgpu_current_mm(void);

/* The calling task's mm, only to compare (NULL for kernel threads). */
void *vgpu_current_mm(void)
{
	return current->mm;
}

bool vgpu_pin_watch_notified(void)
{
	return IS_ENABLED(CONFIG_MMU_NOTIFIER);
}

#ifdef CONFIG_MMU_NOTIFIER
/* Never sleeps and takes no lock: it may run in any invalidation context. */
static bool vgpu_pin_invalidate(struct mmu_interval_notifier *mni,
				const struct mmu_notifier_range *range,
				unsigned long cur_seq)
{
	struct vgpu_pin_watch *w = container_of(mni, struct vgpu_pin_watch, notifier);

	mmu_interval_set_seq(mni, cur_seq);
	atomic_set(&w->stale, 1);
	return true;
}

static const struct mmu_interval_notifier_ops vgpu_pin_watch_ops = {
	.invalidate = vgpu_pin_invalidate,
};
#endif

/*
 * Watches @npages pages at the page-aligned user address @start of
 * current->mm; call it before pinning them, so that no invalidation after
 * the pin goes unseen. NULL on failure (no mm, no memory, or the
 * notifier's error).
 */
struct vgpu_pin_watch *vgpu_pin_watch_new(unsigned long start, unsigned long npages)
{
	struct mm_struct *mm = current->mm;
	struct vgpu_pin_watch *w;

	if (!mm || !npages || npages > ULONG_MAX >> PAGE_SHIFT)
		return NULL;
	w = kzalloc(sizeof(*w), GFP_KERNEL_ACCOUNT);
	if (!w)
		return NULL;
	w->mm = mm;
	w->start = start;
	w->npages = npages;
	atomic_set(&w->stale, 0);
#ifdef CONFIG_MMU_NOTIFIER
	if (mmu_interval_notifier_insert(&w->notifier, mm, start, npages << PAGE_SHIFT,
					 &vgpu_pin_watch_ops)) {
		kfree(w);
		return NULL;
	}
#endif
	/* The watch outlives the task's use of the mm: keep the struct. */
	mmgrab(mm);
	return w;
}

/*
 * Whether the caller's mapping still maps @npages pinned @pages from page
 * @first of the watched range: the calling task uses the watched mm and no
 * invalidation hit the range (without notifiers: those page-table entries
 * hold exactly those pages). A stale watch stays stale.
 */
bool vgpu_pin_watch_valid(struct vgpu_pin_watch *w, struct page **pages, unsigned long first,
			  unsigned long npages, bool writable)
{
#ifndef CONFIG_MMU_NOTIFIER
	struct page *now[32];
	unsigned long done = 0;
#endif

	if (current->mm != w->mm || atomic_read(&w->stale))
		return false;
	if (first > w->npages || npages > w->npages - first)
		return false;
#ifndef CONFIG_MMU_NOTIFIER
	while (done < npages) {
		int n = min_t(unsigned long, npages - done, ARRAY_SIZE(now));
		unsigned long at = first + done;
		int got = get_user_pages_fast_only(w->start + (at << PAGE_SHIFT), n,
						   writable ? FOLL_WRITE : 0, now);
		bool same = got == n;
		int i;

		for (i = 0; i < got; i++) {
			same = same && now[i] == pages[at + i];
			put_page(now[i]);
		}
		if (!same) {
			atomic_set(&w->stale, 1);
			return false;
		}
		done += n;
	}
#endif
	return true;
}

bool vgpu_pin_watch_stale(struct vgpu_pin_watch *w);

/* Whether an invalidation (an exit's too) hit the range: stale for good. */
bool vgpu_pin_watch_stale(struct vgpu_pin_watch *w)
{
	return atomic_read(&w->stale);
}

/* Stops watching (may sleep until a running invalidation ends) and frees @w. */
void vgpu_pin_watch_free(struct vgpu_pin_watch *w)
{
#ifdef CONFIG_MMU_NOTIFIER
	mmu_interval_notifier_remove(&w->notifier);
#endif
	mmdrop(w->mm);
	kfree(w);
}

/*
 * Hands @len bytes at @addr of a long-lived mapping (mapped with
 * @to_device as by vgpu_dma_map_sgtable) to the device (@for_device) or
 * back to the CPU: a cached mapping serves many commands. A no-op on
 * coherent platforms that do not bounce.
 */
void vgpu_dma_sync_range(struct pci_dev *pdev, dma_addr_t addr, size_t len, bool to_device,
			 bool for_device)
{
	enum dma_data_direction dir = to_device ? DMA_TO_DEVICE : DMA_BIDIRECTIONAL;

	if (for_device)
		dma_sync_single_for_device(&pdev->dev, addr, len, dir);
	else
		dma_sync_single_for_cpu(&pdev->dev, addr, len, dir);
}

int vgpu_devtmpfs_set_group(const char *name, unsigned int gid);

/*
 * Gives the devtmpfs node @name ("vgpu0") the group @gid, as NVIDIA's
 * NVreg_DeviceFileGID does for /dev/nvidia*: the misc core applies only a
 * node's mode, and on a system without udev nothing else sets its group.
 * The node is looked up in devtmpfs itself (a private mount of its single
 * superblock), not through "/dev", which depends on the calling task's
 * namespace and may not be devtmpfs at all. udev, when it runs, applies its
 * rule afterwards as usual. Returns 0, or -ENODEV without devtmpfs (then
 * udev or mknod makes the nodes), or the lookup's or chown's error.
 */
int vgpu_devtmpfs_set_group(const char *name, unsigned int gid)
{
	struct iattr attr = {
		/* ATTR_FORCE: probe may run in a kworker, not only in modprobe. */
		.ia_valid = ATTR_GID | ATTR_FORCE,
		.ia_gid = make_kgid(&init_user_ns, gid),
	};
	struct file_system_type *type;
	struct vfsmount *mnt;
	struct path path;
	int err;

	if (!gid_valid(attr.ia_gid))
		return -EINVAL;
	/*
	 * devtmpfs is built in (no owner module), so the reference that
	 * put_filesystem() would drop, and that is not exported, is none.
	 */
	type = get_fs_type("devtmpfs");
	if (!type)
		return -ENODEV;
	mnt = vfs_kern_mount(type, 0, "devtmpfs", NULL);
	if (IS_ERR(mnt))
		return PTR_ERR(mnt);
	err = vfs_path_lookup(mnt->mnt_root, mnt, name, 0, &path);
	if (!err) {
		struct inode *inode = d_inode(path.dentry);

		inode_lock(inode);
		err = notify_change(&nop_mnt_idmap, path.dentry, &attr, NULL);
		inode_unlock(inode);
		path_put(&path);
	}
	kern_unmount(mnt);
	return err;
}

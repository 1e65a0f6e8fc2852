// SPDX-License-Identifier: GPL-2.0
/*
 * vmm_mmio_devices: registers the virtio-mmio platform devices named on the kernel command line as
 * virtio_mmio.device=SIZE@BASE:IRQ[:ID], for kernels built without CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES (Debian's).
 * The guest's /init passes those values here as device=...; the stock virtio_mmio module then binds to them.
 */
#include <linux/init.h>
#include <linux/ioport.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/platform_device.h>

#define VMM_MMIO_MAX 16

static char *device[VMM_MMIO_MAX];
static int ndevice;
module_param_array(device, charp, &ndevice, 0444);
MODULE_PARM_DESC(device, "SIZE@BASE:IRQ[:ID], as virtio_mmio.device= takes them");

static struct platform_device *vmm_mmio_pdev[VMM_MMIO_MAX];

static int vmm_mmio_parse(const char *s, struct resource *res, int *id)
{
	char *end;
	unsigned long long size = memparse(s, &end), base;
	unsigned int irq;
	int n = 0;

	if (*end != '@' || !size)
		return -EINVAL;
	base = memparse(end + 1, &end);
	if (*end != ':' || sscanf(end + 1, "%u%n", &irq, &n) != 1 || !irq)
		return -EINVAL;
	end += 1 + n;
	*id = PLATFORM_DEVID_AUTO;
	if (*end == ':' && sscanf(end + 1, "%d%n", id, &n) == 1)
		end += 1 + n;
	if (*end || base + size - 1 < base)
		return -EINVAL;
	res[0] = (struct resource)DEFINE_RES_MEM(base, size);
	res[1] = (struct resource)DEFINE_RES_IRQ(irq);
	return 0;
}

static void vmm_mmio_remove_all(void)
{
	int i;

	for (i = 0; i < VMM_MMIO_MAX; i++)
		if (vmm_mmio_pdev[i])
			platform_device_unregister(vmm_mmio_pdev[i]);
}

static int __init vmm_mmio_init(void)
{
	int i;

	for (i = 0; i < ndevice; i++) {
		struct resource res[2];
		int id;
		struct platform_device *p;

		if (vmm_mmio_parse(device[i], res, &id)) {
			pr_err("vmm_mmio_devices: device=%s: not SIZE@BASE:IRQ[:ID]\n", device[i]);
			vmm_mmio_remove_all();
			return -EINVAL;
		}
		p = platform_device_register_resndata(NULL, "virtio-mmio", id, res, 2, NULL, 0);
		if (IS_ERR(p)) {
			vmm_mmio_remove_all();
			return PTR_ERR(p);
		}
		vmm_mmio_pdev[i] = p;
		pr_info("vmm_mmio_devices: virtio-mmio at %pR, IRQ %llu\n", &res[0],
			(unsigned long long)res[1].start);
	}
	return 0;
}

static void __exit vmm_mmio_exit(void)
{
	vmm_mmio_remove_all();
}

module_init(vmm_mmio_init);
module_exit(vmm_mmio_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("virtio-mmio devices from SIZE@BASE:IRQ parameters");

// ember's virtual board config (MP_CONFIGFILE): the unix port's config, then the settings a
// board needs that the unix port's mpconfigport.h sets without #ifndef.
#include "mpconfigport.h"

// No host filesystem: VfsPosix is not built, so no call can reach a host file. The flash
// (littlefs on a block device, board_hal.c) is mounted at / by the frozen boot module.
#undef MICROPY_VFS_POSIX
#define MICROPY_VFS_POSIX (0)
#undef MICROPY_READER_POSIX
#define MICROPY_READER_POSIX (0)

// ember's machine module in place of the unix port's (which maps /dev/mem).
#undef MICROPY_PY_MACHINE_INCLUDEFILE
#define MICROPY_PY_MACHINE_INCLUDEFILE "inc/machine.c"
#undef MICROPY_MACHINE_MEM_GET_READ_ADDR
#undef MICROPY_MACHINE_MEM_GET_WRITE_ADDR
#undef MICROPY_PLAT_DEV_MEM

// A critical section blocks the signals that stand for interrupts (SIGINT, the Timer's), as
// a board disables IRQs: the scheduler's queue is then never written by a Timer's signal
// handler halfway through main code's micropython.schedule(). (Threads are off.)
unsigned int vboard_irq_save(void);
void vboard_irq_restore(unsigned int state);
#define MICROPY_BEGIN_ATOMIC_SECTION() vboard_irq_save()
#define MICROPY_END_ATOMIC_SECTION(state) vboard_irq_restore(state)

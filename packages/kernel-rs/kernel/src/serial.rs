//! 16550 UART driver (polled). COM1 carries the event stream, COM2 the control channel.
use crate::port::{inb, outb};

#[derive(Clone, Copy)]
pub struct Uart {
    base: u16,
}

/// The 16550's transmit FIFO (enabled in `init`).
pub const FIFO: usize = 16;

pub const COM1: Uart = Uart { base: 0x3F8 };
pub const COM2: Uart = Uart { base: 0x2F8 };

impl Uart {
    /// Whether a UART answers at this port (the scratch register keeps what is written to it;
    /// an absent port reads back 0xFF, and its status would claim data forever).
    pub fn present(self) -> bool {
        outb(self.base + 7, 0x5A);
        if inb(self.base + 7) != 0x5A {
            return false;
        }
        outb(self.base + 7, 0xA5);
        inb(self.base + 7) == 0xA5
    }

    pub fn init(self) {
        outb(self.base + 1, 0x00); // no interrupts
        outb(self.base + 3, 0x80); // DLAB
        outb(self.base, 0x01); // 115200 baud
        outb(self.base + 1, 0x00);
        outb(self.base + 3, 0x03); // 8N1
        outb(self.base + 2, 0xC7); // FIFO on, cleared, 14-byte threshold
        outb(self.base + 4, 0x03); // DTR | RTS
    }

    /// Raise IRQ (3 for COM2) when data arrives: IER bit 0, and MCR OUT2 gates the line to the PIC.
    pub fn enable_rx_interrupt(self) {
        outb(self.base + 4, 0x0B);
        outb(self.base + 1, 0x01);
    }

    /// Raise the UART's interrupt line once and lower it again (an edge the PIC latches): with
    /// the transmitter empty, enabling the transmit-empty interrupt asserts the line at once.
    /// Interrupts stay off at the UART afterwards, as `init` leaves them.
    pub fn pulse_tx_interrupt(self) {
        while !self.can_write() {
            core::hint::spin_loop();
        }
        outb(self.base + 4, 0x0B); // DTR | RTS | OUT2 (the line's gate to the PIC)
        outb(self.base + 1, 0x02);
        outb(self.base + 1, 0x00);
        outb(self.base + 4, 0x03);
    }

    /// Whether the transmitter is empty (holding register and FIFO): it takes `FIFO` bytes now.
    pub fn can_write(self) -> bool {
        inb(self.base + 5) & 0x20 != 0
    }

    /// Send a burst of at most `FIFO` bytes once the transmitter is empty: one status read per
    /// burst instead of per byte (an emulated UART costs an exit per register access).
    pub fn write_burst(self, bytes: &[u8]) {
        while !self.can_write() {
            core::hint::spin_loop();
        }
        for &b in &bytes[..bytes.len().min(FIFO)] {
            outb(self.base, b);
        }
    }

    pub fn read_byte(self) -> Option<u8> {
        if inb(self.base + 5) & 0x01 != 0 {
            Some(inb(self.base))
        } else {
            None
        }
    }
}

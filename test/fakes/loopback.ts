// Fakes of remote services listen on 127.0.0.1 only, on a free port, and close at once even
// while a request hangs (the fault kind "hang" never answers).
import type { Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

export interface Loopback {
  readonly url: string
  close(): Promise<void>
}

export async function listenOnLoopback(server: Server): Promise<Loopback> {
  const sockets = new Set<Socket>()
  server.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}

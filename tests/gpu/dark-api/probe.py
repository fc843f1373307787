import ctypes as C,os
L=C.CDLL("libcuda.so.1");U=C.c_uint;V=C.c_void_p;Q=C.c_uint64;F=C.CFUNCTYPE;R=C.byref
print("init",L.cuInit(0))
mp=[l.split() for l in open('/proc/self/maps') if 'libcuda' in l]
lo=min(int(m[0].split('-')[0],16) for m in mp);hi=max(int(m[0].split('-')[1],16) for m in mp)
def tab(h):
 t=V(0xdead);r=L.cuGetExportTable(R(t),(C.c_ubyte*16)(*bytes.fromhex(h)));return r,t.value
P=lambda a,i:Q.from_address(a+8*i).value
def sl(v):return 'NULL' if v==0 else ('cuda+%x'%(v-lo) if lo<=v<hi else '%#x'%v)
I=dict(CUDART='6bd5fb6c5bf4e74a8987d93912fd9df9',TLS='42d85a8123f6cb478298f6e78a3aecdc',HOOKS='a094798c2e742e7493f20800200c0a66',CLS='c693336e1121df11a8c368f355d89593',CCB='0ca50b8c1004929a89a7d0df10e77286',HEAP='195bcbf4d67d024aacc51d29cea631ae',DEVEXT='b10541e1f7c7c74a9f64f223be99f1e2',INTEG='d4082055bde6704b8d34ba123c66e1f2',CHECKS='263e88607cd2614392f6bbd5006dfa7e',F8='f8cff95121468b4eb9e2fb469e7c0dd9',HYB='dd9e98a4f410484499b0e2aeb7b432b5',BAD='00112233445566778899aabbccddeeff')
T={}
for k,h in I.items():
 r,t=tab(h);T[k]=t;print(k,r,t and hex(t))
 if r==0:
  n=40 if k=='F8' else(P(t,0)//8 if P(t,0)<0x10000 else 6);print(' ',' '.join('%d:%s'%(i,sl(P(t,i))) for i in range(n)))
ti,tc=T['INTEG'],T['CUDART'];dv=C.c_int();L.cuDriverGetVersion(R(dv));u=(C.c_ubyte*16)();L.cuDeviceGetUuid_v2(u,0)
a=[C.c_int() for _ in range(3)];[L.cuDeviceGetAttribute(R(x),n,0) for x,n in zip(a,(50,33,34))]
C.CDLL(None).pthread_self.restype=C.c_ulong
print("hashin drv=%d pid=%d tid=%#x cudart=%#x integ=%#x fn=%#x uuid=%s pci=%s"%(dv.value,os.getpid(),C.CDLL(None).pthread_self()&0xffffffff,tc,ti,P(ti,1),bytes(u).hex(),[x.value for x in a]))
ic=F(U,U,Q,V)(P(ti,1))
for ver in(12082,13002,13000,13001):
 o=(Q*2)();print("hash",ver,ic(ver,0x682b9cee,C.addressof(o)),'%#x %#x'%(o[0],o[1]))
c=V();print("fn2",F(U,V,C.c_int)(P(tc,2))(R(c),0),c.value)
fl,ac=U(),C.c_int();L.cuDevicePrimaryCtxGetState(0,R(fl),R(ac));print("state",fl.value,ac.value)
c2=V();print("retain",L.cuDevicePrimaryCtxRetain(R(c2),0),c2.value==c.value,"cur",L.cuCtxSetCurrent(c2))
tl=T['CLS'];put=F(U,V,V,V,V)(P(tl,0));de=F(U,V,V)(P(tl,1));ge=F(U,V,V,V)(P(tl,2))
D=F(None,V,V,V)(lambda x,k,v:print(" dtor",x==c.value,k,v));v=V()
print("cls get-miss",ge(R(v),None,0x11),"put",put(None,0x11,0x22,D),"get",ge(R(v),None,0x11),v.value,"get-ctx",ge(R(v),c2,0x11))
print("del",de(None,0x11),"get",ge(R(v),None,0x11),"del-miss",de(None,0x99))
put(None,0x33,0x44,D);print("release");print(L.cuDevicePrimaryCtxRelease_v2(0),"get",ge(R(v),c2,0x33))
L.cuDevicePrimaryCtxRetain(R(c2),0);L.cuCtxSetCurrent(c2);put(None,0x55,0x66,D);print("reset");print(L.cuDevicePrimaryCtxReset_v2(0))
L.cuDevicePrimaryCtxRetain(R(c2),0);L.cuCtxSetCurrent(c2);tk=T['CHECKS'];r1=U(7);r2=V(0xabc)
print("chk3",F(U)(P(tk,3))(),"chk2",F(U,V,V,V)(P(tk,2))(c2,R(r1),R(r2)),r1.value,hex(r2.value))
td=T['DEVEXT'];o=(Q*2)(9,9);b=C.c_ubyte(9);print("dx5",F(U,C.c_int,U,C.c_int,V)(P(td,5))(0,16,0,C.addressof(o)),o[0],o[1],"dx13",F(U,V,C.c_int)(P(td,13))(R(b),0),b.value)
th=T['HOOKS'];
for s in(2,6):p,z=V(),C.c_size_t();F(None,V,V)(P(th,s))(R(p),R(z));print("hook",s,z.value)
print("lc12",F(U)(P(tc,12))())
